// The TLS parameters of each server's URL, in that ecosystem's own convention, turned into
// node:tls options:
// - PostgreSQL: libpq's sslmode/sslrootcert/sslcert/sslkey, which node-postgres reads from the
//   URL itself; here they are checked and described (what pg 8 will do), the URL is unchanged.
// - Redis: `rediss://` with redis-py's (and Celery's) ssl_ca_certs, ssl_certfile, ssl_keyfile,
//   ssl_cert_reqs, ssl_check_hostname; ioredis has no URL form for them.
// - RabbitMQ: `amqps://` with the query parameters RabbitMQ documents for its clients:
//   cacertfile, certfile, keyfile, verify, server_name_indication, fail_if_no_peer_cert.
import { isIP } from 'node:net';
import { redactUrl } from './errors.js';
import {
  plainSettings,
  readCertificateFile,
  readTlsFile,
  TlsError,
  type ClientTlsOptions,
  type TlsSettings,
} from './tls.js';

function parse(url: string, what: string): URL {
  try {
    return new URL(url);
  } catch (error) {
    throw new TlsError('TLS_BAD_PARAMETER', `not a valid ${what} URL: ${redactUrl(url)}`, {
      cause: error,
    });
  }
}

function bad(url: string, parameter: string, value: string, accepted: string): TlsError {
  return new TlsError(
    'TLS_BAD_PARAMETER',
    `${parameter}=${value} in ${redactUrl(url)} is not valid: ${accepted}`,
  );
}

/** Takes the TLS parameters out of `parsed`: each once, non-empty. */
function take(parsed: URL, url: string, names: readonly string[]): Map<string, string> {
  const found = new Map<string, string>();
  for (const name of names) {
    const values = parsed.searchParams.getAll(name);
    if (values.length === 0) continue;
    if (values.length > 1 || values[0] === '')
      throw bad(url, name, values.join(','), 'give it once, with a value');
    found.set(name, values[0]!);
    parsed.searchParams.delete(name);
  }
  return found;
}

/** The SNI name for a host: none for an IP address (RFC 6066), the name otherwise. */
function sniOf(host: string): string | undefined {
  const bare = host.replace(/^\[|\]$/g, '');
  return isIP(bare) === 0 ? bare : undefined;
}

const skipHostCheck = (): undefined => undefined;

const REDIS_PARAMS = [
  'ssl_ca_certs',
  'ssl_certfile',
  'ssl_keyfile',
  'ssl_cert_reqs',
  'ssl_check_hostname',
] as const;

const CERT_REQS: Record<string, 'required' | 'none'> = {
  required: 'required',
  cert_required: 'required',
  // A server always presents a certificate, so "verify it if presented" is "verify it".
  optional: 'required',
  cert_optional: 'required',
  none: 'none',
  cert_none: 'none',
};

const BOOLEANS: Record<string, boolean> = {
  true: true,
  yes: true,
  '1': true,
  false: false,
  no: false,
  '0': false,
};

/**
 * A `redis://` or `rediss://` URL as ioredis takes it: the URL without the `ssl_*` parameters
 * (ioredis would copy them into its options as strings) and the `tls` option. Throws TlsError
 * for a bad value or an unreadable file (read now: ioredis keeps the options for its
 * reconnects).
 */
export function redisTls(url: string): TlsSettings {
  const parsed = parse(url, 'Redis');
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:')
    throw new TlsError('TLS_BAD_PARAMETER', `${redactUrl(url)} is not a redis:// or rediss:// URL`);
  const p = take(parsed, url, REDIS_PARAMS);
  const stripped = parsed.toString();
  if (parsed.protocol === 'redis:') {
    const first = [...p.keys()][0];
    if (first !== undefined)
      throw bad(url, first, p.get(first)!, 'TLS parameters need a rediss:// URL');
    return plainSettings('redis', stripped);
  }
  const reqsText = p.get('ssl_cert_reqs');
  const reqs = reqsText === undefined ? 'required' : CERT_REQS[reqsText.toLowerCase()];
  if (reqs === undefined)
    throw bad(url, 'ssl_cert_reqs', reqsText!, 'use required (the default), optional or none');
  const hostText = p.get('ssl_check_hostname');
  const checkHost = hostText === undefined ? true : BOOLEANS[hostText.toLowerCase()];
  if (checkHost === undefined)
    throw bad(url, 'ssl_check_hostname', hostText!, 'use true (the default) or false');
  const caFile = p.get('ssl_ca_certs');
  const certFile = p.get('ssl_certfile');
  const keyFile = p.get('ssl_keyfile');
  if (keyFile !== undefined && certFile === undefined)
    throw bad(url, 'ssl_keyfile', keyFile, 'give ssl_certfile with it');
  const options: ClientTlsOptions = { rejectUnauthorized: reqs === 'required' };
  if (caFile !== undefined) options.ca = readCertificateFile('ssl_ca_certs', caFile, url);
  if (certFile !== undefined) {
    options.cert = readCertificateFile('ssl_certfile', certFile, url);
    // redis-py's certfile may hold the key too (ssl.load_cert_chain).
    options.key = readTlsFile(keyFile ? 'ssl_keyfile' : 'ssl_certfile', keyFile ?? certFile, url);
  }
  const servername = sniOf(parsed.hostname);
  if (servername !== undefined) options.servername = servername;
  if (reqs === 'required' && !checkHost) options.checkServerIdentity = skipHostCheck;
  return {
    server: 'redis',
    enabled: true,
    verify: reqs === 'none' ? 'none' : checkHost ? 'full' : 'chain',
    trust: caFile === undefined ? 'system' : 'file',
    ...(caFile !== undefined ? { caFile } : {}),
    ...(certFile !== undefined ? { certFile, keyFile: keyFile ?? certFile } : {}),
    url: stripped,
    options,
  };
}

const AMQP_PARAMS = [
  'cacertfile',
  'certfile',
  'keyfile',
  'verify',
  'server_name_indication',
  'fail_if_no_peer_cert',
] as const;

/**
 * An `amqp://` or `amqps://` URL as amqplib takes it: the URL without the TLS parameters
 * (heartbeat, frameMax... stay) and the socket options for `amqp.connect(url, options)`.
 * Throws TlsError for a bad value or an unreadable file; read at each call, so a caller that
 * calls it per connection picks up a renewed CA file.
 */
export function amqpTls(url: string): TlsSettings {
  const parsed = parse(url, 'AMQP');
  if (parsed.protocol !== 'amqp:' && parsed.protocol !== 'amqps:')
    throw new TlsError('TLS_BAD_PARAMETER', `${redactUrl(url)} is not an amqp:// or amqps:// URL`);
  const p = take(parsed, url, AMQP_PARAMS);
  const stripped = parsed.toString();
  if (parsed.protocol === 'amqp:') {
    const first = [...p.keys()][0];
    if (first !== undefined)
      throw bad(url, first, p.get(first)!, 'TLS parameters need an amqps:// URL');
    return plainSettings('amqp', stripped);
  }
  const verify = p.get('verify') ?? 'verify_peer';
  if (verify !== 'verify_peer' && verify !== 'verify_none')
    throw bad(url, 'verify', verify, 'use verify_peer (the default) or verify_none');
  const failIfNoPeerCert = p.get('fail_if_no_peer_cert');
  if (failIfNoPeerCert !== undefined && BOOLEANS[failIfNoPeerCert] === undefined)
    throw bad(url, 'fail_if_no_peer_cert', failIfNoPeerCert, 'use true or false');
  const sni = p.get('server_name_indication');
  if (sni === 'disable')
    throw bad(
      url,
      'server_name_indication',
      sni,
      'amqplib always checks the certificate against a host name: name the host the certificate is for, or leave it out to use the URL host',
    );
  const caFile = p.get('cacertfile');
  const certFile = p.get('certfile');
  const keyFile = p.get('keyfile');
  if ((certFile === undefined) !== (keyFile === undefined))
    throw bad(
      url,
      certFile ? 'certfile' : 'keyfile',
      certFile ?? keyFile!,
      'give certfile and keyfile together',
    );
  const options: ClientTlsOptions = { rejectUnauthorized: verify === 'verify_peer' };
  if (caFile !== undefined) options.ca = readCertificateFile('cacertfile', caFile, url);
  if (certFile !== undefined && keyFile !== undefined) {
    options.cert = readCertificateFile('certfile', certFile, url);
    options.key = readTlsFile('keyfile', keyFile, url);
  }
  if (sni !== undefined) options.servername = sni;
  return {
    server: 'amqp',
    enabled: true,
    verify: verify === 'verify_peer' ? 'full' : 'none',
    trust: caFile === undefined ? 'system' : 'file',
    ...(caFile !== undefined ? { caFile } : {}),
    ...(certFile !== undefined && keyFile !== undefined ? { certFile, keyFile } : {}),
    ...(sni !== undefined ? { servername: sni } : {}),
    url: stripped,
    options,
  };
}

const SSLMODES = ['disable', 'prefer', 'require', 'verify-ca', 'verify-full', 'no-verify'];

/**
 * What node-postgres 8 does with a `postgres://` URL's TLS parameters, checked: a bad sslmode
 * or an unreadable file is a TlsError now instead of a surprise at the first connection. The
 * URL is returned unchanged (pg reads it, and its files at each new connection).
 *
 * pg 8 differs from libpq: `prefer`, `require` and `verify-ca` are aliases of `verify-full`
 * (chain and host name verified, no plaintext fallback) unless `uselibpqcompat=true` is given.
 * Without TLS parameters in the URL, pg reads PGSSLMODE (with the same aliases).
 */
export function postgresTls(url: string): TlsSettings {
  const parsed = parse(url, 'PostgreSQL');
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:')
    throw new TlsError('TLS_BAD_PARAMETER', `${redactUrl(url)} is not a postgres:// URL`);
  const q = parsed.searchParams;
  const caFile = q.get('sslrootcert') ?? undefined;
  const certFile = q.get('sslcert') ?? undefined;
  const keyFile = q.get('sslkey') ?? undefined;
  const ssl = q.get('ssl') ?? undefined;
  const sslmode = q.get('sslmode') ?? undefined;
  const libpq = q.get('uselibpqcompat') === 'true';
  const anyFile = caFile !== undefined || certFile !== undefined || keyFile !== undefined;
  if (sslmode !== undefined && !SSLMODES.includes(sslmode))
    throw bad(
      url,
      'sslmode',
      sslmode,
      `node-postgres takes ${SSLMODES.join(', ')}${sslmode === 'allow' ? " (libpq's allow would mean TLS with verification in pg 8: say disable or verify-full)" : ''}`,
    );
  // pg turns any other ssl= string into "on", `false` included.
  if (ssl !== undefined && !['true', '1', '0', 'no-verify'].includes(ssl))
    throw bad(url, 'ssl', ssl, 'use ssl=true, ssl=1, ssl=0 or ssl=no-verify, or sslmode=...');
  if (caFile === 'system')
    throw bad(
      url,
      'sslrootcert',
      caFile,
      "node-postgres reads a file; leave sslrootcert out to trust Node's CAs (and NODE_EXTRA_CA_CERTS)",
    );
  if (libpq && sslmode === 'verify-ca' && caFile === undefined)
    throw bad(
      url,
      'sslmode',
      sslmode,
      'verify-ca with uselibpqcompat=true needs sslrootcert=<CA file>',
    );
  // Without any TLS parameter in the URL, pg reads PGSSLMODE (libpq's names, pg 8's meaning).
  const fromUrl = sslmode !== undefined || anyFile || ssl !== undefined;
  if (!fromUrl) {
    const env = process.env['PGSSLMODE'];
    if (env === undefined || !SSLMODES.includes(env) || env === 'disable')
      return plainSettings('postgres', url);
    const verify = env === 'no-verify' ? 'none' : 'full';
    return {
      server: 'postgres',
      enabled: true,
      verify,
      trust: 'system',
      url,
      options: { rejectUnauthorized: verify === 'full' },
    };
  }
  const enabled =
    sslmode !== undefined ? sslmode !== 'disable' : anyFile || (ssl !== undefined && ssl !== '0');
  if (!enabled) return plainSettings('postgres', url);
  let verify: TlsSettings['verify'] = 'full';
  if (sslmode === 'no-verify' || ssl === 'no-verify') verify = 'none';
  else if (libpq && sslmode === 'prefer') verify = 'none';
  else if (libpq && sslmode === 'require') verify = caFile === undefined ? 'none' : 'chain';
  else if (libpq && sslmode === 'verify-ca') verify = 'chain';
  const options: ClientTlsOptions = { rejectUnauthorized: verify !== 'none' };
  if (caFile !== undefined) options.ca = readCertificateFile('sslrootcert', caFile, url);
  if (certFile !== undefined) options.cert = readCertificateFile('sslcert', certFile, url);
  if (keyFile !== undefined) options.key = readTlsFile('sslkey', keyFile, url);
  if (verify === 'chain') options.checkServerIdentity = skipHostCheck;
  return {
    server: 'postgres',
    enabled: true,
    verify,
    trust: caFile === undefined ? 'system' : 'file',
    ...(caFile !== undefined ? { caFile } : {}),
    ...(certFile !== undefined ? { certFile } : {}),
    ...(keyFile !== undefined ? { keyFile } : {}),
    url,
    options,
  };
}

/**
 * The TLS settings of any of the three servers' URLs (by scheme): whether the connection is
 * encrypted, what is verified, against which CA. For reports (`meskit doctor`).
 */
export function tlsSettings(url: string): TlsSettings {
  const scheme = /^([a-z]+):/i.exec(url)?.[1]?.toLowerCase();
  if (scheme === 'postgres' || scheme === 'postgresql') return postgresTls(url);
  if (scheme === 'redis' || scheme === 'rediss') return redisTls(url);
  if (scheme === 'amqp' || scheme === 'amqps') return amqpTls(url);
  throw new TlsError(
    'TLS_BAD_PARAMETER',
    `${redactUrl(url)}: expected a postgres://, redis://, rediss://, amqp:// or amqps:// URL`,
  );
}
