#!/usr/bin/env node
/**
 * services: start, inspect and stop the real servers that tests and the demo use.
 *
 *   services up [--only a,b] [--no-replica] [--no-tls]    start, print exports, stop on Ctrl-C
 *   services start [--only a,b] [--no-replica] [--no-tls] start in the background, print exports
 *   services env                               print the exports of the background run
 *   services status [--json]                   is each server of that run up?
 *   services stop                              stop that run and remove its data
 *   services redis-ha sentinel|cluster         a Redis master + replica + 3 Sentinels, or a
 *                                              3-master cluster with a replica each, in the
 *                                              foreground: prints REDIS_SENTINEL_URL or
 *                                              REDIS_CLUSTER_URL, stops on Ctrl-C
 *
 * Exit codes: 0 ok, 1 a server is down or failed to start, 2 bad usage.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ServicesError } from './errors.js';
import {
  ALL_SERVICES,
  attachServices,
  startServices,
  type ServiceName,
  type Services,
} from './services.js';
import { amqpReachable } from './rabbitmq.js';
import { redisPing } from './redis.js';
import { startRedisCluster } from './redis-cluster.js';
import { startRedisSentinel } from './redis-sentinel.js';

/** Where `start` records its run for `env`, `status` and `stop`. */
const currentFile = () => join(tmpdir(), 'meskit-services.current');

function usage(message?: string): never {
  if (message) process.stderr.write(`services: ${message}\n`);
  process.stderr.write(
    'usage: services up|start|env|status|stop [--only postgres,redis,rabbitmq,prometheus,victoriametrics] [--no-replica] [--no-tls] [--json]\n       services redis-ha sentinel|cluster\n',
  );
  process.exit(2);
}

function currentRun(): Services {
  if (!existsSync(currentFile())) {
    process.stderr.write(
      'services: no background run; start one with `npm run services -- start`\n',
    );
    process.exit(1);
  }
  return attachServices(readFileSync(currentFile(), 'utf8').trim());
}

async function status(services: Services): Promise<Record<string, boolean>> {
  const result: Record<string, boolean> = {};
  if (services.postgres) {
    result['postgres.primary'] = services.postgres.primary.isRunning();
    if (services.postgres.replica)
      result['postgres.replica'] = services.postgres.replica.isRunning();
  }
  if (services.redis) result['redis'] = await redisPing(services.redis.port);
  if (services.redis?.tls)
    result['redis.tls'] = await redisPing(
      services.redis.tls.port,
      1_000,
      services.redis.tls.files.caFile,
    );
  if (services.rabbitmq) result['rabbitmq'] = await amqpReachable(services.rabbitmq.url);
  if (services.rabbitmq?.tlsUrl && services.tls)
    result['rabbitmq.amqps'] = await amqpReachable(services.rabbitmq.tlsUrl, services.tls.caFile);
  if (services.prometheus)
    result['prometheus'] = await fetch(`${services.prometheus.url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
  if (services.victoriametrics)
    result['victoriametrics'] = await fetch(`${services.victoriametrics.url}/health`).then(
      (r) => r.ok,
      () => false,
    );
  return result;
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      only: { type: 'string' },
      'no-replica': { type: 'boolean', default: false },
      'no-tls': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) usage();
  const command = positionals[0];
  const only = values.only?.split(',').map((name) => name.trim()) as ServiceName[] | undefined;
  for (const name of only ?? [])
    if (!ALL_SERVICES.includes(name)) usage(`unknown service "${name}"`);
  const log = (line: string) => process.stderr.write(`services: ${line}\n`);

  switch (command) {
    case 'up': {
      const services = await startServices({
        ...(only ? { only } : {}),
        replica: !values['no-replica'],
        tls: !values['no-tls'],
        log,
      });
      process.stdout.write(`${services.exports()}\n`);
      log('running; Ctrl-C stops everything');
      const stop = () => void services.close().then(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      setInterval(() => {}, 1 << 30);
      return;
    }
    case 'start': {
      if (existsSync(currentFile())) {
        const previous = readFileSync(currentFile(), 'utf8').trim();
        if (existsSync(previous))
          usage(`a background run already exists in ${previous}; run \`services stop\` first`);
      }
      const services = await startServices({
        ...(only ? { only } : {}),
        replica: !values['no-replica'],
        tls: !values['no-tls'],
        detached: true,
        log,
      });
      writeFileSync(currentFile(), services.dir);
      process.stdout.write(`${services.exports()}\n`);
      return;
    }
    case 'env':
      process.stdout.write(`${currentRun().exports()}\n`);
      return;
    case 'redis-ha': {
      const kind = positionals[1];
      if (kind !== 'sentinel' && kind !== 'cluster') usage('redis-ha needs sentinel or cluster');
      const dir = mkdtempSync(join(tmpdir(), `meskit-redis-${kind}-`));
      const started =
        kind === 'sentinel' ? await startRedisSentinel({ dir }) : await startRedisCluster({ dir });
      const name = kind === 'sentinel' ? 'REDIS_SENTINEL_URL' : 'REDIS_CLUSTER_URL';
      process.stdout.write(`export ${name}='${started.url}'\n`);
      log(`Redis ${kind} running under ${dir}; Ctrl-C stops it`);
      const stop = () =>
        void started.close().then(() => {
          rmSync(dir, { recursive: true, force: true });
          process.exit(0);
        });
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      setInterval(() => {}, 1 << 30);
      return;
    }
    case 'status': {
      const result = await status(currentRun());
      if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
      else
        for (const [name, up] of Object.entries(result))
          process.stdout.write(`${up ? 'up  ' : 'DOWN'}  ${name}\n`);
      process.exitCode = Object.values(result).every(Boolean) ? 0 : 1;
      return;
    }
    case 'stop': {
      await currentRun().close();
      rmSync(currentFile(), { force: true });
      log('stopped');
      return;
    }
    default:
      usage(command ? `unknown command "${command}"` : undefined);
  }
}

main().catch((error: unknown) => {
  const message =
    error instanceof ServicesError
      ? `${error.code}: ${error.message}`
      : String(error instanceof Error ? error.stack : error);
  process.stderr.write(`services: ${message}\n`);
  process.exit(1);
});
