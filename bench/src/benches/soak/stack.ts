// What the soak runs, each part as its own process on loopback: the reference MES under every
// meskit part (otel-bootstrap's --import with traces, logs and metrics; reads through db-router
// on the streaming replica; events through mq-reliable's outbox; pricing-runner's workers),
// `meskit cache-proxy` in front of it (its index in Redis, fed by the MES's events), and a bare
// MES (no meskit part, its own database and exchange) beside them as the baseline.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  startLokiReceiver,
  startOtlpReceiver,
  type LokiReceiver,
  type OtlpReceiver,
} from '@meskit/otel-bootstrap/testing';
import { migrate, seedOrders } from '@meskit/reference-mes';
import { freePort, startServices, type Services } from '@meskit/services';
import { createDatabase, dropDatabase, settleAfterSeed } from '../../lib/database.js';
import {
  mesMainPath,
  spawnListening,
  type MesProcess,
  type SpawnOptions,
} from '../../lib/mes-process.js';
import { commandLine } from '../../lib/proc-cpu.js';
import { findProcess } from './proc.js';
import type { SampledProcess } from './sampler.js';

const BOOTSTRAP = ['--import', '@meskit/otel-bootstrap/register'];
const PROBE = fileURLToPath(new URL('../../../fixtures/soak-probe.mjs', import.meta.url));
const FIRST_PAGE = '/api/orders?status=MANUFACTURING_APPROVED&page=1&pageSize=20';

/** One MES of the soak: where it keeps its data and which exchange its traffic uses. */
export interface SoakMes {
  process: MesProcess;
  databaseUrl: string;
  exchange: string;
  modelDir: string;
  /** Where the simulated traffic is sent: the cache proxy for meskit's, the MES for the bare. */
  trafficUrl: string;
}

/** A process that must run until the soak stops it; exiting earlier is a crash. */
export interface Crash {
  label: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last lines of its log. */
  log: string;
}

export interface SoakStack {
  services: Services;
  otlp: OtlpReceiver;
  loki: LokiReceiver;
  meskit: SoakMes;
  bare: SoakMes;
  cacheProxy: { process: MesProcess; url: string; adminUrl: string; adminToken: string };
  /** Every process the sampler reads, meskit's first. */
  processes: SampledProcess[];
  /** The folder of the run's logs (`<id>.log`) and model stores; removed by close(). */
  workDir: string;
  /** Resolves with the first process that exits before close() stops it. */
  crashed: Promise<Crash>;
  /** Stops every process and server; keepLogs leaves the logs in workDir. Safe twice. */
  close(opts?: { keepLogs?: boolean }): Promise<void>;
}

function cliBinPath(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('@meskit/cli/package.json')), 'bin', 'meskit.js');
}

function lastLines(file: string, count = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-count).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Starts everything; on a failure part-way, stops what started and rethrows. */
export async function startSoakStack(opts: {
  orders: number;
  /**
   * V8's young generation of every Node process, pinned (`--min-semi-space-size` =
   * `--max-semi-space-size`, MB): 0 leaves it adaptive (V8 doubles it, once or more, minutes
   * into a run, as the allocation rate asks; each doubling is a step in RSS).
   */
  semiSpaceMb: number;
  log: (line: string) => void;
}): Promise<SoakStack> {
  const { log } = opts;
  const young =
    opts.semiSpaceMb > 0
      ? [`--min-semi-space-size=${opts.semiSpaceMb}`, `--max-semi-space-size=${opts.semiSpaceMb}`]
      : [];
  const closers: (() => Promise<void>)[] = [];
  const workDir = mkdtempSync(join(tmpdir(), 'meskit-bench-soak-'));
  const suffix = `${process.pid}_${Date.now().toString(36)}`;
  let stopping = false;
  let onCrash: (crash: Crash) => void = () => undefined;
  const crashed = new Promise<Crash>((resolve) => (onCrash = resolve));
  let closed: Promise<void> | undefined;
  const close = (closeOpts: { keepLogs?: boolean } = {}): Promise<void> => {
    stopping = true;
    closed ??= (async () => {
      for (const closer of closers.reverse()) await closer().catch(() => undefined);
      if (!closeOpts.keepLogs) rmSync(workDir, { recursive: true, force: true });
      else
        // The logs stay; the model stores (hundreds of MB after a long soak) do not.
        for (const dir of ['models-meskit', 'models-bare'])
          rmSync(join(workDir, dir), { recursive: true, force: true });
    })();
    return closed;
  };

  /** Spawns a process that prints the listening line, logging to workDir/<id>.log. */
  const spawnWatched = async (
    id: string,
    label: string,
    script: string,
    spawn: Omit<SpawnOptions, 'stderrFile' | 'onStderr'>,
  ): Promise<MesProcess> => {
    const logFile = join(workDir, `${id}.log`);
    let started: MesProcess;
    try {
      started = await spawnListening(script, {
        ...spawn,
        // Nothing inherited from the caller's shell loads into the child.
        env: { NODE_OPTIONS: '', ...spawn.env },
        stderrFile: logFile,
      });
    } catch (error) {
      throw new Error(
        `${label} did not start: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}\n${lastLines(logFile)}`,
        { cause: error },
      );
    }
    closers.push(() => started.stop());
    // The pid sampled must be node running that script, not a wrapper.
    const argv = commandLine(started.child.pid!);
    if (!argv.includes(script) || !/node/.test(argv[0] ?? ''))
      throw new Error(`pid ${started.child.pid} is not ${label}'s node process: ${argv.join(' ')}`);
    started.child.once('exit', (code, signal) => {
      if (!stopping) onCrash({ label, code, signal, log: lastLines(logFile) });
    });
    return started;
  };

  try {
    const services = await startServices({
      only: ['postgres', 'redis', 'rabbitmq'],
      replica: true,
      log,
    });
    closers.push(() => services.close());
    const urls = services.urls;
    // Counting mode: every export checked and counted, nothing kept for twelve minutes.
    const otlp = await startOtlpReceiver({ keepSpans: false });
    closers.push(() => otlp.close());
    const loki = await startLokiReceiver();
    closers.push(() => loki.close());

    const databases = { meskit: `soak_meskit_${suffix}`, bare: `soak_bare_${suffix}` };
    const databaseUrls = {
      meskit: await createDatabase(urls.DATABASE_URL!, databases.meskit),
      bare: await createDatabase(urls.DATABASE_URL!, databases.bare),
    };
    closers.push(async () => {
      for (const name of Object.values(databases))
        await dropDatabase(urls.DATABASE_URL!, name).catch(() => undefined);
    });
    for (const [which, url] of Object.entries(databaseUrls)) {
      log(`${which}: schema and ${opts.orders.toLocaleString('en-US')} seeded orders`);
      await migrate(url);
      await seedOrders({ databaseUrl: url, orders: opts.orders });
      await settleAfterSeed(url);
    }
    // The replica has the seeded orders before the MES reads from it.
    await services.postgres!.waitForReplay();
    const replicaUrl = new URL(urls.DATABASE_REPLICA_URL!);
    replicaUrl.pathname = `/${databases.meskit}`;

    const telemetry = (service: string, metricsPort: number): Record<string, string> => ({
      OTEL_SERVICE_NAME: service,
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
      MESKIT_LOKI_URL: loki.url,
      MESKIT_METRICS_PORT: String(metricsPort),
    });
    const modelDirs = {
      meskit: join(workDir, 'models-meskit'),
      bare: join(workDir, 'models-bare'),
    };
    for (const dir of Object.values(modelDirs)) mkdirSync(dir, { recursive: true });
    const exchanges = { meskit: `soak.meskit.${suffix}`, bare: `soak.bare.${suffix}` };

    const mesMetricsPort = await freePort();
    const mes = await spawnWatched('mes', 'MES with meskit', mesMainPath(), {
      execArgv: [...young, ...BOOTSTRAP],
      env: {
        DATABASE_URL: databaseUrls.meskit,
        DATABASE_REPLICA_URL: replicaUrl.toString(),
        AMQP_URL: urls.AMQP_URL!,
        MES_EXCHANGE: exchanges.meskit,
        MES_MESSAGING: 'reliable',
        MES_PRICING: 'runner',
        MES_MODEL_DIR: modelDirs.meskit,
        MES_LOG_LEVEL: 'info',
        ...telemetry('mes', mesMetricsPort),
      },
    });
    log(`MES with meskit listening on ${mes.url}`);

    const probePort = await freePort();
    const bareMes = await spawnWatched('bare-mes', 'bare MES', mesMainPath(), {
      execArgv: [...young, '--import', pathToFileURL(PROBE).href],
      env: {
        DATABASE_URL: databaseUrls.bare,
        // Whatever the caller's shell exports: the baseline has none of meskit.
        DATABASE_REPLICA_URL: '',
        AMQP_URL: urls.AMQP_URL!,
        MES_EXCHANGE: exchanges.bare,
        MES_MESSAGING: 'legacy',
        MES_PRICING: 'legacy',
        MES_MODEL_DIR: modelDirs.bare,
        MES_LOG_LEVEL: 'info',
        MESKIT_BENCH_PROBE_PORT: String(probePort),
      },
    });
    log(`bare MES listening on ${bareMes.url}`);

    const adminToken = randomBytes(24).toString('hex');
    const adminPort = await freePort();
    const proxyMetricsPort = await freePort();
    const cli = cliBinPath();
    const proxy = await spawnWatched('cache-proxy', 'cache-proxy', cli, {
      execArgv: [...young, ...BOOTSTRAP],
      args: ['cache-proxy'],
      env: {
        MESKIT_CACHE_UPSTREAM: mes.url,
        MESKIT_CACHE_PORT: '0',
        MESKIT_CACHE_REDIS_URL: urls.REDIS_URL!,
        MESKIT_CACHE_AMQP_URL: urls.AMQP_URL!,
        MESKIT_CACHE_EXCHANGE: exchanges.meskit,
        MESKIT_CACHE_KEY_PREFIX: `soak:${suffix}:`,
        MESKIT_CACHE_ADMIN_TOKEN: adminToken,
        MESKIT_CACHE_ADMIN_PORT: String(adminPort),
        ...telemetry('cache-proxy', proxyMetricsPort),
      },
    });
    log(`cache-proxy listening on ${proxy.url}, its index in Redis`);

    // Every part answers before the clock starts; the first page fills the proxy's index.
    for (const [what, url] of [
      ['MES with meskit', `${mes.url}/health`],
      ['bare MES', `${bareMes.url}/health`],
      ['cache-proxy', `${proxy.url}${FIRST_PAGE}`],
    ] as const) {
      const response = await fetch(url);
      await response.arrayBuffer();
      if (!response.ok) throw new Error(`${what}: GET ${url} answered ${response.status}`);
    }

    const processes: SampledProcess[] = [
      {
        id: 'mes',
        label: 'MES with meskit',
        role: 'meskit',
        gated: true,
        pid: mes.child.pid!,
        metricsUrl: `http://127.0.0.1:${mesMetricsPort}/metrics`,
      },
      {
        id: 'cacheProxy',
        label: 'cache-proxy',
        role: 'meskit',
        gated: true,
        pid: proxy.child.pid!,
        metricsUrl: `http://127.0.0.1:${proxyMetricsPort}/metrics`,
      },
      {
        id: 'bareMes',
        label: 'bare MES (baseline)',
        role: 'baseline',
        gated: false,
        pid: bareMes.child.pid!,
        metricsUrl: `http://127.0.0.1:${probePort}/metrics`,
      },
    ];
    // The servers too, where their pid is the server itself: reported, not gated.
    const redisPid = services.redis?.pid;
    const redis = redisPid && findProcess(redisPid, (name) => name.startsWith('redis-server'));
    if (redis)
      processes.push({ id: 'redis', label: 'Redis', role: 'server', gated: false, pid: redis });
    const rabbitPid = services.rabbitmq?.pid;
    const beam = rabbitPid && findProcess(rabbitPid, (name) => name.startsWith('beam'));
    if (beam)
      processes.push({
        id: 'rabbitmq',
        label: 'RabbitMQ',
        role: 'server',
        gated: false,
        pid: beam,
      });

    return {
      services,
      otlp,
      loki,
      meskit: {
        process: mes,
        databaseUrl: databaseUrls.meskit,
        exchange: exchanges.meskit,
        modelDir: modelDirs.meskit,
        trafficUrl: proxy.url,
      },
      bare: {
        process: bareMes,
        databaseUrl: databaseUrls.bare,
        exchange: exchanges.bare,
        modelDir: modelDirs.bare,
        trafficUrl: bareMes.url,
      },
      cacheProxy: {
        process: proxy,
        url: proxy.url,
        adminUrl: `http://127.0.0.1:${adminPort}`,
        adminToken,
      },
      processes,
      workDir,
      crashed,
      close,
    };
  } catch (error) {
    await close({ keepLogs: true });
    throw new Error(
      `${error instanceof Error ? error.message : String(error)}\n(logs kept in ${workDir})`,
      { cause: error },
    );
  }
}
