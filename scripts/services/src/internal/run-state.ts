// What a run writes to `<dir>/state.json`, so that another process can stop or inspect it
// (`services stop|status|env`, the vitest global setup reusing a run), and a run whose owner
// was SIGKILLed can be cleaned up by the next one.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ServicesError } from '../errors.js';
import type { PostgresPair } from '../postgres.js';
import type { PrometheusServer } from '../prometheus.js';
import type { RabbitMqServer, RabbitPorts } from '../rabbitmq.js';
import type { RedisServer } from '../redis.js';
import type { TlsFiles } from '../tls.js';
import type { VictoriaMetricsServer } from '../victoria-metrics.js';

export interface RunState {
  ownerPid: number;
  detached: boolean;
  /** The run's CA and server certificate; absent in runs without TLS (or older ones). */
  tls?: TlsFiles;
  postgres?: { primaryPort: number; replicaPort?: number };
  redis?: { port: number; tlsPort?: number; pid?: number };
  rabbitmq?: { ports: RabbitPorts; pid?: number; epmdPid?: number };
  prometheus?: { port: number; pid?: number };
  victoriametrics?: { port: number; pid?: number };
}

/** The servers of a run started so far. */
export type Parts = {
  postgres?: PostgresPair | undefined;
  redis?: RedisServer | undefined;
  rabbitmq?: RabbitMqServer | undefined;
  prometheus?: PrometheusServer | undefined;
  victoriametrics?: VictoriaMetricsServer | undefined;
};

const withPid = (pid: number | undefined) => (pid ? { pid } : {});

/**
 * Records the owner and every server started so far. Written as soon as the folder exists
 * and after each server starts, so that a run killed part-way can still be cleaned up.
 */
export function writeState(
  dir: string,
  self: Parts,
  detached: boolean,
  tls: TlsFiles | undefined,
): void {
  const state: RunState = { ownerPid: process.pid, detached, ...(tls ? { tls } : {}) };
  if (self.postgres) {
    state.postgres = { primaryPort: self.postgres.primary.port };
    if (self.postgres.replica) state.postgres.replicaPort = self.postgres.replica.port;
  }
  if (self.redis)
    state.redis = {
      port: self.redis.port,
      ...(self.redis.tls ? { tlsPort: self.redis.tls.port } : {}),
      ...withPid(self.redis.pid),
    };
  if (self.rabbitmq) {
    state.rabbitmq = { ports: self.rabbitmq.ports };
    if (self.rabbitmq.pid) state.rabbitmq.pid = self.rabbitmq.pid;
    if (self.rabbitmq.epmdPid) state.rabbitmq.epmdPid = self.rabbitmq.epmdPid;
  }
  if (self.prometheus)
    state.prometheus = { port: self.prometheus.port, ...withPid(self.prometheus.pid) };
  if (self.victoriametrics)
    state.victoriametrics = {
      port: self.victoriametrics.port,
      ...withPid(self.victoriametrics.pid),
    };
  writeFileSync(join(dir, 'state.json.tmp'), JSON.stringify(state, null, 2));
  renameSync(join(dir, 'state.json.tmp'), join(dir, 'state.json'));
}

/** The state of the run in `dir`; BAD_OPTIONS when there is none. */
export function readState(dir: string): RunState {
  const file = join(dir, 'state.json');
  if (!existsSync(file))
    throw new ServicesError('BAD_OPTIONS', `no services run in ${dir} (state.json missing)`);
  return JSON.parse(readFileSync(file, 'utf8')) as RunState;
}
