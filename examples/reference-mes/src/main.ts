// The legacy MES as a process: `node dist/main.js`, configured by env vars (see README).
// Prints one JSON line to stdout once listening, which the demo and the tests wait for.
// Deliberately free of any telemetry: meskit adds it from outside with
// `node --import @meskit/otel-bootstrap/register dist/main.js`.
import { readMesEnv } from './internal/env.js';
import { createReferenceMes, type ReferenceMes } from './mes.js';

async function main(): Promise<void> {
  const mes: ReferenceMes = await createReferenceMes(readMesEnv(process.env));
  process.stdout.write(`${JSON.stringify({ event: 'listening', url: mes.url })}\n`);

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      // A second signal while draining: the operator wants out now.
      fail(`received ${signal} again while stopping; exiting without draining`);
      return;
    }
    stopping = true;
    mes.close().then(
      () => process.exit(0),
      (err: unknown) => fail(`error while stopping: ${message(err)}`),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

function message(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, ' ');
}

function fail(text: string): void {
  process.stderr.write(`reference-mes: ${text}\n`);
  process.exit(1);
}

main().catch((err: unknown) => fail(message(err)));
