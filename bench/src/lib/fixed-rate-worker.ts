// The load generator's thread (started by startFixedRate in fixed-rate.ts): one undici Pool of
// keep-alive connections to the server, one schedule at a time, the result posted back.
import { parentPort, workerData } from 'node:worker_threads';
import { Pool } from 'undici';
import { runSchedule, type ScheduleMessage } from './fixed-rate.js';

const { origin, maxInFlight, timeoutMs } = workerData as {
  origin: string;
  maxInFlight: number;
  timeoutMs: number;
};
const port = parentPort!;
const pool = new Pool(origin, {
  connections: maxInFlight,
  headersTimeout: timeoutMs,
  bodyTimeout: timeoutMs,
});

port.on('message', (message: ScheduleMessage | 'close') => {
  if (message === 'close') {
    void pool.close().finally(() => port.close());
    return;
  }
  void runSchedule(pool, message, { maxInFlight, timeoutMs }).then((result) =>
    port.postMessage(result),
  );
});
port.postMessage('ready');
