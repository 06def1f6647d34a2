import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { redisPing, startRedis, attachServices, type RedisServer } from '@meskit/services';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

describe('RabbitMQ', () => {
  it('accepts quorum queues and round-trips a message', async () => {
    const { AMQP_URL } = inject('services');
    if (!AMQP_URL) throw new Error('the global setup did not start RabbitMQ');
    const connection = await amqp.connect(AMQP_URL);
    try {
      const channel = await connection.createConfirmChannel();
      const queue = `services-test-quorum-${process.pid}-${Date.now()}`;
      const declared = await channel.assertQueue(queue, {
        durable: true,
        arguments: { 'x-queue-type': 'quorum' },
      });
      expect(declared.queue).toBe(queue);
      channel.sendToQueue(queue, Buffer.from('hello'), { persistent: true });
      await channel.waitForConfirms();
      let message: amqp.GetMessage | false = false;
      for (let attempt = 0; !message && attempt < 200; attempt++) {
        message = await channel.get(queue, { noAck: true });
        if (!message) await new Promise((resolve) => setTimeout(resolve, 25));
      }
      expect(message && message.content.toString()).toBe('hello');
      await channel.deleteQueue(queue);
    } finally {
      await connection.close();
    }
  });
});

describe('Prometheus', () => {
  let target: Server | undefined;
  afterAll(() => target?.close());

  it('scrapes a target it is given while running', async () => {
    const { PROMETHEUS_URL, MESKIT_SERVICES_DIR } = inject('services');
    if (!PROMETHEUS_URL) throw new Error('the global setup did not start Prometheus');
    target = createServer((req, res) => {
      res.setHeader('content-type', 'text/plain; version=0.0.4');
      res.end('# TYPE services_test_probe gauge\nservices_test_probe 42\n');
    });
    await new Promise<void>((resolve) => target!.listen(0, '127.0.0.1', resolve));
    const address = target.address();
    if (!address || typeof address !== 'object') throw new Error('no address');
    const job = `services-test-${process.pid}`;
    attachServices(MESKIT_SERVICES_DIR).prometheus!.setScrapeJob({
      job,
      targets: [`127.0.0.1:${address.port}`],
    });
    let value: string | undefined;
    for (let attempt = 0; value === undefined && attempt < 300; attempt++) {
      const response = await fetch(
        `${PROMETHEUS_URL}/api/v1/query?query=${encodeURIComponent(`services_test_probe{job="${job}"}`)}`,
      );
      const body = (await response.json()) as { data: { result: { value: [number, string] }[] } };
      value = body.data.result[0]?.value[1];
      if (value === undefined) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(value).toBe('42');
  });
});

describe('Redis', () => {
  let dir: string | undefined;
  let redis: RedisServer | undefined;
  afterAll(async () => {
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('can be killed and started again on the same port', async () => {
    dir = mkdtempSync(join(tmpdir(), 'meskit-redis-faults-'));
    redis = await startRedis({ dir });
    expect(await redisPing(redis.port)).toBe(true);
    await redis.kill();
    expect(await redisPing(redis.port)).toBe(false);
    await redis.start();
    expect(await redisPing(redis.port)).toBe(true);
  });
});

describe('the services command', () => {
  it('prints env exports, and Ctrl-C stops what it started and removes its data', async () => {
    const child = spawn(process.execPath, [CLI, 'up', '--only', 'redis'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exports: Record<string, string> = {};
    const lines = createInterface({ input: child.stdout });
    for await (const line of lines) {
      const match = /^export (\w+)='(.*)'$/.exec(line);
      if (match) exports[match[1]!] = match[2]!;
      if (exports['REDIS_URL'] && exports['MESKIT_SERVICES_DIR']) break;
    }
    const port = Number(new URL(exports['REDIS_URL']!).port);
    expect(await redisPing(port)).toBe(true);
    const exited = new Promise<number | null>((resolve) =>
      child.once('exit', (code) => resolve(code)),
    );
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(await redisPing(port)).toBe(false);
    expect(existsSync(exports['MESKIT_SERVICES_DIR']!)).toBe(false);
  });

  it('rejects an unknown service with a usage error', async () => {
    const child = spawn(process.execPath, [CLI, 'up', '--only', 'mysql'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(2);
    expect(stderr).toMatch(/unknown service "mysql"/);
  });
});
