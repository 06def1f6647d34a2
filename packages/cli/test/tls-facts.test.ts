// What the doctor says about a connection's encryption, read from real sockets: a TLS
// connection to a server whose certificate expires in 2 days, and a plain one.
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createPlainServer, connect as connectPlain, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as connectTls, createServer, type Server } from 'node:tls';
import { createTestCa } from '@meskit/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeTls, tlsFactsOf, withTls } from '../src/doctor/tls-facts.js';

describe('tlsFactsOf', () => {
  let dir: string;
  let server: Server;
  let notAfter: Date;

  let caPem: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'meskit-tls-facts-'));
    // A certificate for 127.0.0.1 that expires in 2 days.
    const ca = createTestCa(dir, 'doctor');
    const leaf = ca.issue('doctor-test', 'IP:127.0.0.1', { days: 2 });
    caPem = ca.ca.pem;
    notAfter = new Date(new X509Certificate(leaf.cert.pem).validTo);
    server = createServer({ key: leaf.key.pem, cert: leaf.cert.pem }, (socket) => socket.end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });

  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('reads the protocol and the certificate expiry of a TLS connection', async () => {
    const port = (server.address() as { port: number }).port;
    const socket = connectTls({
      host: '127.0.0.1',
      port,
      ca: caPem,
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    });
    const facts = tlsFactsOf(socket, notAfter.getTime() - 2 * 86_400_000 + 60_000);
    socket.destroy();
    expect(facts).toEqual({
      encrypted: true,
      protocol: expect.stringMatching(/^TLSv1\.[23]$/),
      certificateExpires: notAfter.toISOString(),
      certificateDaysLeft: 1,
      certificateSubject: 'doctor-test',
    });
    expect(describeTls(facts)).toMatch(
      /^TLS \(TLSv1\.[23]\), certificate valid until \d{4}-\d\d-\d\d \(1 day left\)$/,
    );
    // Expiring within the warning window: a passing check becomes a warning that says so.
    const outcome = withTls({ status: 'pass', message: 'Redis 7 at db:6380' }, facts);
    expect(outcome.status).toBe('warn');
    expect(outcome.message).toMatch(/1 day left\): renew the server's certificate/);
    expect(outcome.details).toMatchObject({ tls: { encrypted: true } });
  });

  it('says a plain connection is not encrypted, and leaves its status alone', async () => {
    const plain = createPlainServer((socket) => socket.end());
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    const socket: Socket = connectPlain((plain.address() as { port: number }).port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    const facts = tlsFactsOf(socket);
    socket.destroy();
    await new Promise((resolve) => plain.close(resolve));
    expect(facts).toEqual({ encrypted: false });
    expect(withTls({ status: 'pass', message: 'PostgreSQL 15' }, facts)).toEqual({
      status: 'pass',
      message: 'PostgreSQL 15; not encrypted',
      details: { tls: { encrypted: false } },
    });
  });
});
