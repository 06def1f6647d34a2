// A VictoriaLogs receiver for tests (no VictoriaLogs can be installed here), serving its Loki
// push path: POST /insert/loki/api/v1/push and GET /insert/loki/ready. It checks what
// VictoriaLogs checks there (app/vlinsert/loki): a JSON body when the Content-Type is
// application/json, else a protobuf PushRequest, snappy-compressed unless Content-Encoding says
// otherwise; the body shape (streams, values of 2 or 3 items, string timestamps and lines,
// metadata objects); the boolean and key=value query arguments. A malformed push gets 400, as
// from VictoriaLogs. Lines are kept with their labels (VictoriaLogs' stream fields) and the
// push's query arguments (`_stream_fields`, `_msg_field`, `_time_field`, ...), which this
// receiver records without applying.
//
// One difference, on purpose: VictoriaLogs stores a label that is not a string as its JSON
// text; this receiver refuses it, as Loki does, so a producer tested here suits both.
import { decodeProtobufPush, snappyDecompress } from './loki-protobuf.js';
import {
  decodeJsonPush,
  PushRefused,
  startPushReceiver,
  type PushProtocol,
  type PushReceiver,
} from './push-receiver.js';

export interface VictoriaLogsReceiver extends PushReceiver {
  /** Base URL (`http://127.0.0.1:<port>`), VictoriaLogs' root. */
  readonly url: string;
  /** `<url>/insert/loki/api/v1/push`, for MESKIT_LOKI_URL. */
  readonly pushUrl: string;
}

/** Query arguments VictoriaLogs parses as booleans (Go's strconv.ParseBool) on this path. */
const BOOLEAN_ARGS = ['debug', 'disable_message_parsing'];
const GO_BOOLEANS = [
  '1',
  't',
  'T',
  'TRUE',
  'true',
  'True',
  '0',
  'f',
  'F',
  'FALSE',
  'false',
  'False',
];

/** VictoriaLogs' IsJSONContentType: exactly application/json, parameters allowed. */
function isJsonContentType(contentType: string): boolean {
  return contentType === 'application/json' || contentType.startsWith('application/json;');
}

const VICTORIALOGS: PushProtocol = {
  pushPath: '/insert/loki/api/v1/push',
  readyPath: '/insert/loki/ready',
  checkRequest(request, query) {
    for (const name of BOOLEAN_ARGS) {
      const value = query.get(name);
      if (value !== null && value !== '' && !GO_BOOLEANS.includes(value)) {
        throw new PushRefused(400, `cannot parse ${name}=${JSON.stringify(value)}`);
      }
    }
    for (const field of query.getAll('extra_fields').flatMap((v) => v.split(','))) {
      const equals = field.indexOf('=');
      if (field !== '' && (equals <= 0 || equals === field.length - 1)) {
        throw new PushRefused(
          400,
          `invalid extra_field format: ${JSON.stringify(field)}; must be in the form "field=value"`,
        );
      }
    }
    const encoding = (request.headers['content-encoding'] ?? '').toLowerCase();
    if (!['', 'gzip', 'snappy'].includes(encoding)) {
      throw new PushRefused(
        415,
        `this test receiver takes Content-Encoding gzip or snappy (or none), got "${encoding}"`,
      );
    }
  },
  decode(body, request) {
    const contentType = request.headers['content-type'] ?? '';
    // readBody already gunzipped a gzip body.
    const encoding = (request.headers['content-encoding'] ?? '').toLowerCase();
    if (isJsonContentType(contentType)) {
      return decodeJsonPush(encoding === 'snappy' ? snappy(body) : body, true);
    }
    // Anything else is protobuf, snappy-compressed by default, as the Loki API says.
    return decodeProtobufPush(encoding === 'gzip' ? body : snappy(body));
  },
};

function snappy(body: Buffer): Buffer {
  try {
    return snappyDecompress(body);
  } catch (err) {
    throw new PushRefused(
      400,
      `cannot decompress the snappy body: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}

/** Starts a receiver on 127.0.0.1 and a free port. */
export function startVictoriaLogsReceiver(): Promise<VictoriaLogsReceiver> {
  return startPushReceiver(VICTORIALOGS);
}
