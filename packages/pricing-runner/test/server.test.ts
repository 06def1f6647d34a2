// The pricing sidecar's HTTP API, over a real runner and real sockets: quotes from raw bodies
// and multipart uploads, jobs to poll, and every malformed model answered 4xx with its code.
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createPricingRunner,
  createPricingServer,
  ListenError,
  type PricingRunner,
  type PricingServer,
} from '../dist/index.js';
import { expectInvalidOption } from './invalid-option.js';
import { binaryStl, meshXml, obj, RELS, threeMf, torus, uvSphere, zip } from './meshes.js';

const sphere = binaryStl(uvSphere(5, 16, 24));
const ring = obj(torus(10, 1.5, 32, 16));

/** What the API answers, loosely: each test asserts the fields it relies on. */
interface Answer {
  status: string;
  id: string;
  location: string;
  cached: boolean;
  threads: number;
  analysis: { triangles: number; watertight: boolean; format: string };
  price: { total: number; alloy: string };
  error: { code: string; message: string };
}

let runner: PricingRunner;
let server: PricingServer;
let registry: Registry;

beforeAll(async () => {
  registry = new Registry();
  runner = createPricingRunner({ threads: 1, registry });
  server = await createPricingServer({ runner, port: 0, registry, maxBodyBytes: 1024 * 1024 });
});
afterAll(async () => {
  await server.close();
  await runner.close();
});

async function post(body: Uint8Array, query = '', headers: Record<string, string> = {}) {
  const response = await fetch(`${server.url}/v1/quotes${query}`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/octet-stream', ...headers },
  });
  return {
    status: response.status,
    headers: response.headers,
    json: (await response.json()) as Answer,
  };
}

const model = `<model unit="millimeter"><resources><object id="1">${meshXml(uvSphere(2, 6, 8))}</object></resources><build><item objectid="1"/></build></model>`;

function badCount(): Buffer {
  const stl = binaryStl(uvSphere(2, 6, 8));
  stl.writeUInt32LE(0xffffffff, 80);
  return stl;
}

function badZip(): Buffer {
  const file = threeMf(model);
  const directory = file.readUInt32LE(file.length - 6);
  file.fill(0x55, directory, directory + 8);
  return file;
}

describe('POST /v1/quotes', () => {
  it('prices a raw binary STL and answers the second identical upload from the cache', async () => {
    const first = await post(sphere);
    expect(first.status).toBe(200);
    expect(first.json).toMatchObject({ status: 'done', cached: false });
    expect(first.json.analysis.triangles).toBe(16 * 24 * 2 - 2 * 24);
    expect(first.json.analysis.watertight).toBe(true);
    expect(first.json.price.total).toBeGreaterThan(0);
    const second = await post(sphere);
    expect(second.status).toBe(200);
    expect(second.json.cached).toBe(true);
    expect(second.json.price).toEqual(first.json.price);
  });

  it('prices the file of a multipart upload, in the alloy asked for', async () => {
    const form = new FormData();
    form.set('customer', 'b2b-partner');
    form.set('model', new Blob([ring]), 'ring.obj');
    const response = await fetch(`${server.url}/v1/quotes?alloy=silver-925`, {
      method: 'POST',
      body: form,
    });
    const json = (await response.json()) as Answer;
    expect(response.status).toBe(200);
    expect(json.analysis.format).toBe('obj');
    expect(json.price.alloy).toBe('silver-925');
  });

  it('answers every malformed model 4xx with its MeshError code, never 500', async () => {
    const cases: [string, Uint8Array, number, string][] = [
      ['empty body', new Uint8Array(0), 422, 'EMPTY'],
      ['truncated STL', sphere.subarray(0, sphere.length - 20), 422, 'TRUNCATED'],
      ['random bytes', Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8), 422, 'UNKNOWN_FORMAT'],
      ['NaN coordinate', Buffer.from('v 0 0 0\nv 1 0 nan\nv 0 1 0\nf 1 2 3\n'), 422, 'NON_FINITE'],
      ['bad OBJ index', Buffer.from('v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 9\n'), 422, 'BAD_OBJ_INDEX'],
      ['not a zip', threeMf('<model/>').subarray(0, 40), 422, 'TRUNCATED'],
      [
        'zip without a model',
        zip([{ name: '_rels/.rels', data: Buffer.from(RELS) }]),
        422,
        'BAD_3MF',
      ],
      ['over maxBodyBytes', new Uint8Array(1024 * 1024 + 1), 413, 'TOO_LARGE'],
      ['count contradicting the size', badCount(), 422, 'BAD_COUNT'],
      [
        'zip bomb',
        threeMf(model.replace('<resources>', `<!--${' '.repeat(4 << 20)}--><resources>`)),
        422,
        'ZIP_BOMB',
      ],
      ['garbage central directory', badZip(), 422, 'BAD_ZIP'],
      [
        'ASCII STL grammar',
        Buffer.from('solid x\nfacet normal 0 0 1\nouter lop\n'),
        422,
        'BAD_STL',
      ],
      ['OBJ face of 2 vertices', Buffer.from('v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2\n'), 422, 'BAD_OBJ'],
    ];
    for (const [what, body, status, code] of cases) {
      const answer = await post(body);
      expect([what, answer.status, answer.json.error?.code]).toEqual([what, status, code]);
      expect(typeof answer.json.error.message).toBe('string');
    }
  });

  it('refuses an unknown alloy with 400 and a message naming it', async () => {
    const answer = await post(sphere, '?alloy=unobtainium');
    expect(answer.status).toBe(400);
    expect(answer.json.error.message).toContain('unobtainium');
  });

  it('refuses a multipart upload without a file, and a bad wait', async () => {
    const form = new FormData();
    form.set('note', 'no file here');
    const response = await fetch(`${server.url}/v1/quotes`, { method: 'POST', body: form });
    expect(response.status).toBe(400);
    expect(((await response.json()) as Answer).error.code).toBe('NO_FILE');
    const badWait = await post(sphere, '?wait=soon');
    expect([badWait.status, badWait.json.error.code]).toEqual([400, 'BAD_WAIT']);
  });
});

describe('jobs', () => {
  async function poll(location: string) {
    for (;;) {
      const response = await fetch(`${server.url}${location}`);
      const json = (await response.json()) as Answer;
      if (json.status !== 'pending') return { status: response.status, json };
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  it('answers Prefer: respond-async with 202 and a job that ends done', async () => {
    const model = binaryStl(uvSphere(7, 20, 30));
    const accepted = await post(model, '', { prefer: 'respond-async' });
    expect(accepted.status).toBe(202);
    expect(accepted.headers.get('location')).toBe(`/v1/jobs/${accepted.json.id}`);
    const done = await poll(accepted.headers.get('location')!);
    expect(done.status).toBe(200);
    expect(done.json).toMatchObject({ id: accepted.json.id, status: 'done' });
    expect(done.json.price.total).toBeGreaterThan(0);
  });

  it('keeps the error code of a job that failed', async () => {
    const accepted = await post(Uint8Array.of(9, 9, 9, 9), '', { prefer: 'respond-async' });
    expect(accepted.status).toBe(202);
    const failed = await poll(accepted.json.location);
    expect(failed.json).toMatchObject({ status: 'failed', error: { code: 'UNKNOWN_FORMAT' } });
  });

  it('answers 404 for a job that does not exist', async () => {
    const response = await fetch(`${server.url}/v1/jobs/00000000-0000-0000-0000-000000000000`);
    expect(response.status).toBe(404);
    expect(((await response.json()) as Answer).error.code).toBe('NO_SUCH_JOB');
  });
});

describe('health, metrics and routing', () => {
  it('serves /healthz, /readyz and the runner metrics on /metrics', async () => {
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(((await ready.json()) as Answer).threads).toBe(1);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toContain('meskit_pricing_cache_requests_total{result="hit"}');
    expect(metrics).toMatch(/meskit_pricing_errors_total\{code="UNKNOWN_FORMAT"\} [1-9]/);
  });

  it('answers unknown routes 404 and wrong methods 405 with Allow', async () => {
    expect((await fetch(`${server.url}/nope`)).status).toBe(404);
    const wrong = await fetch(`${server.url}/v1/quotes`);
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
  });

  it('refuses bad options synchronously at construction, naming them', () => {
    // Thrown, not a rejected promise: nothing is listening or kept once the call returns.
    expectInvalidOption(
      () => createPricingServer({ runner, port: 70000 }),
      'createPricingServer',
      'port',
      /must be an integer from 0 to 65535, got 70000/,
    );
    expectInvalidOption(
      () => createPricingServer({ runner, maxJobs: 0 }),
      'createPricingServer',
      'maxJobs',
    );
    expectInvalidOption(() => createPricingServer({} as never), 'createPricingServer', 'runner');
    expectInvalidOption(
      () => createPricingServer({ runner, host: '' }),
      'createPricingServer',
      'host',
    );
    expectInvalidOption(
      () => createPricingServer(undefined as never),
      'createPricingServer',
      'options',
    );
  });

  it('rejects with LISTEN_FAILED when the port is taken, naming the address', async () => {
    const taken = Number(new URL(server.url).port);
    const error = await createPricingServer({ runner, port: taken, registry }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ListenError);
    expect(error).toMatchObject({
      code: 'LISTEN_FAILED',
      host: '127.0.0.1',
      port: taken,
      message: expect.stringMatching(
        new RegExp(`pricing server: cannot listen on 127\\.0\\.0\\.1:${taken}: .*EADDRINUSE`),
      ),
    });
    // The sidecar already there still answers.
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it('closes twice without error', async () => {
    const extra = await createPricingServer({ runner, port: 0, registry });
    await extra.close();
    await extra.close();
    await expect(fetch(`${extra.url}/healthz`)).rejects.toThrow();
  });
});
