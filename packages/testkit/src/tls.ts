// Certificates for TLS tests: a CA made for the test and server certificates it signs, with
// openssl (Debian's, always on the machine). PEM files in a folder the test owns.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A PEM file and its text. */
export interface PemFile {
  readonly file: string;
  readonly pem: string;
}

export interface IssuedCertificate {
  readonly cert: PemFile;
  readonly key: PemFile;
}

export interface TestCa {
  /** The CA's certificate: what a client trusts. */
  readonly ca: PemFile;
  /**
   * A server certificate signed by this CA for `names`, subjectAltName entries such as
   * `DNS:localhost,IP:127.0.0.1`. Valid for `days` (default 2).
   */
  issue(name: string, names: string, opts?: { days?: number }): IssuedCertificate;
}

function openssl(args: readonly string[]): void {
  execFileSync('openssl', args, { stdio: 'pipe' });
}

function pem(file: string): PemFile {
  return { file, pem: readFileSync(file, 'utf8') };
}

/** A new CA named `name`, its files under `dir` (created if missing). */
export function createTestCa(dir: string, name: string): TestCa {
  mkdirSync(dir, { recursive: true });
  const file = (suffix: string) => join(dir, `${name}-${suffix}`);
  openssl(
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2'].concat([
      '-subj',
      `/CN=${name} test CA`,
      '-keyout',
      file('ca.key'),
      '-out',
      file('ca.pem'),
    ]),
  );
  return {
    ca: pem(file('ca.pem')),
    issue(leaf, names, opts = {}) {
      const base = (suffix: string) => file(`${leaf}.${suffix}`);
      openssl(
        ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${leaf}`].concat([
          '-keyout',
          base('key'),
          '-out',
          base('csr'),
        ]),
      );
      writeFileSync(base('ext'), `subjectAltName=${names}\n`);
      openssl(
        ['x509', '-req', '-in', base('csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key')]
          .concat(['-CAcreateserial', '-days', String(opts.days ?? 2), '-extfile', base('ext')])
          .concat(['-out', base('pem')]),
      );
      return { cert: pem(base('pem')), key: pem(base('key')) };
    },
  };
}
