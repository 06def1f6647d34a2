// Certificates for the TLS listeners of a run, made with openssl: a CA of the run's own and a
// server certificate it signs for the names the clients use. Tests make more (a second CA, a
// certificate for another name) with the same function.
import { chmodSync, chownSync, copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ServicesError } from './errors.js';
import { run, type RunAs } from './internal/proc.js';

/** The PEM files of a CA and of the server certificate it signed. */
export interface TlsFiles {
  /** The CA's certificate: what a client trusts. */
  caFile: string;
  /** The server's certificate, signed by the CA. */
  certFile: string;
  /** The server certificate's private key (mode 0600). */
  keyFile: string;
}

export interface CreateTlsFilesOptions {
  /** Folder of the files (created when missing). Required. */
  dir: string;
  /** subjectAltName of the server certificate. Default: `DNS:localhost,IP:127.0.0.1`. */
  subjectAltName?: string;
  /** Names the CA (its CN) and prefixes its files. Default: `meskit-test`. */
  name?: string;
  /** Validity of both certificates, in days. Default: 30. */
  days?: number;
}

export const DEFAULT_SUBJECT_ALT_NAME = 'DNS:localhost,IP:127.0.0.1';

function openssl(args: readonly string[]): void {
  try {
    run('openssl', args, { timeoutMs: 30_000 });
  } catch (error) {
    throw new ServicesError(
      'COMMAND_FAILED',
      `could not create the TLS certificates with openssl (apt-get install openssl): ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/**
 * A new CA and a server certificate it signs (RSA 2048, SHA-256), as PEM files in `dir`:
 * `<name>-ca.pem`, `<name>-ca.key`, `<name>-server.pem`, `<name>-server.key`. The
 * certificates are readable by everyone (servers run as their own users), the keys 0600.
 */
export function createTlsFiles(opts: CreateTlsFilesOptions): TlsFiles {
  const name = opts.name ?? 'meskit-test';
  if (!/^[\w.-]+$/.test(name))
    throw new ServicesError('BAD_OPTIONS', `TLS name must be letters, digits, . _ -: ${name}`);
  const days = String(opts.days ?? 30);
  mkdirSync(opts.dir, { recursive: true, mode: 0o755 });
  const file = (suffix: string) => join(opts.dir, `${name}-${suffix}`);
  const files: TlsFiles = {
    caFile: file('ca.pem'),
    certFile: file('server.pem'),
    keyFile: file('server.key'),
  };
  const caKey = file('ca.key');
  openssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-sha256',
    '-days',
    days,
    '-subj',
    `/CN=${name} CA`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
    '-keyout',
    caKey,
    '-out',
    files.caFile,
  ]);
  const csr = file('server.csr');
  openssl([
    'req',
    '-new',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    `/CN=${name} server`,
    '-keyout',
    files.keyFile,
    '-out',
    csr,
  ]);
  const extensions = file('server.ext');
  writeFileSync(
    extensions,
    [
      `subjectAltName = ${opts.subjectAltName ?? DEFAULT_SUBJECT_ALT_NAME}`,
      'basicConstraints = critical, CA:FALSE',
      'keyUsage = critical, digitalSignature, keyEncipherment',
      'extendedKeyUsage = serverAuth',
      '',
    ].join('\n'),
  );
  openssl([
    'x509',
    '-req',
    '-sha256',
    '-in',
    csr,
    '-CA',
    files.caFile,
    '-CAkey',
    caKey,
    '-set_serial',
    `0x${randomBytes(8).toString('hex')}`,
    '-days',
    days,
    '-extfile',
    extensions,
    '-out',
    files.certFile,
  ]);
  chmodSync(files.caFile, 0o644);
  chmodSync(files.certFile, 0o644);
  chmodSync(files.keyFile, 0o600);
  chmodSync(caKey, 0o600);
  return files;
}

/** `name=<file>` for a URL's query: encoded, but with its slashes kept so it reads as a path. */
export function fileParam(name: string, file: string): string {
  return `${name}=${encodeURIComponent(file).replace(/%2F/gi, '/')}`;
}

/**
 * A copy of the server key at `target`, mode 0600 and owned by `runAs` (when we are root):
 * PostgreSQL refuses a key that others can read, and a server running as its own user cannot
 * read root's 0600 file.
 */
export function privateKeyCopy(files: TlsFiles, target: string, runAs: RunAs | undefined): string {
  copyFileSync(files.keyFile, target);
  chmodSync(target, 0o600);
  if (runAs) chownSync(target, runAs.uid, runAs.gid);
  return target;
}
