import type { DoctorCheck } from '../types.js';
import { cacheProxyCheck } from './cache-proxy.js';
import { dbRouterCheck } from './db-router.js';
import { lokiCheck } from './loki.js';
import { mesCheck } from './mes.js';
import { mqCheck } from './mq.js';
import { otelCollectorCheck, otelMetricsCheck } from './otel.js';
import { postgresPrimaryCheck, postgresReplicaCheck } from './postgres.js';
import { pricingCheck } from './pricing.js';
import { rabbitmqCheck } from './rabbitmq.js';
import { redisCheck } from './redis.js';

/** The checks `meskit doctor` ships with, in report order. A fresh array on each call. */
export function builtinChecks(): DoctorCheck[] {
  return [
    postgresPrimaryCheck,
    postgresReplicaCheck,
    dbRouterCheck,
    redisCheck,
    rabbitmqCheck,
    mqCheck,
    mesCheck,
    otelCollectorCheck,
    otelMetricsCheck,
    lokiCheck,
    pricingCheck,
    cacheProxyCheck,
  ];
}

export {
  cacheProxyCheck,
  dbRouterCheck,
  lokiCheck,
  mesCheck,
  mqCheck,
  otelCollectorCheck,
  otelMetricsCheck,
  postgresPrimaryCheck,
  postgresReplicaCheck,
  pricingCheck,
  rabbitmqCheck,
  redisCheck,
};
