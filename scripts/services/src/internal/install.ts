import { existsSync, readdirSync, renameSync, writeFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { ServicesError } from '../errors.js';
import { isRoot } from './proc.js';

/** A program we need and the Debian package that provides it. */
export interface DebianRequirement {
  /** What it is for, shown in messages. */
  name: string;
  /** The Debian package to install. */
  pkg: string;
  /** Returns the program's path when installed. */
  locate: () => string | undefined;
}

function firstExisting(paths: readonly string[]): string | undefined {
  return paths.find((path) => existsSync(path));
}

/** The newest installed PostgreSQL server binaries, 15 or later. */
export function postgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .map(Number)
    .filter((version) => version >= 15 && existsSync(`${root}/${version}/bin/postgres`))
    .sort((a, b) => a - b);
  // Prefer 15, the version the MES runs in production, when several are installed.
  const chosen = versions.includes(15) ? 15 : versions.at(-1);
  return chosen === undefined ? undefined : `${root}/${chosen}/bin`;
}

export const REQUIREMENTS = {
  postgres: {
    name: 'PostgreSQL 15',
    pkg: 'postgresql',
    locate: () => {
      const dir = postgresBinDir();
      return dir && existsSync(`${dir}/pg_basebackup`) ? `${dir}/postgres` : undefined;
    },
  },
  redis: {
    name: 'Redis',
    pkg: 'redis-server',
    locate: () => firstExisting(['/usr/bin/redis-server']),
  },
  rabbitmq: {
    name: 'RabbitMQ',
    pkg: 'rabbitmq-server',
    locate: () => firstExisting(['/usr/lib/rabbitmq/bin/rabbitmq-server']),
  },
  prometheus: {
    name: 'Prometheus',
    pkg: 'prometheus',
    locate: () => firstExisting(['/usr/bin/prometheus']),
  },
  promtool: {
    name: 'promtool',
    pkg: 'prometheus',
    locate: () => firstExisting(['/usr/bin/promtool']),
  },
  victoriametrics: {
    name: 'VictoriaMetrics',
    pkg: 'victoria-metrics',
    locate: () => firstExisting(['/usr/bin/victoria-metrics']),
  },
  vmalert: {
    name: 'vmalert',
    pkg: 'victoria-metrics',
    locate: () => firstExisting(['/usr/bin/vmalert']),
  },
  wrk: { name: 'wrk', pkg: 'wrk', locate: () => firstExisting(['/usr/bin/wrk']) },
  nginx: { name: 'nginx', pkg: 'nginx', locate: () => firstExisting(['/usr/sbin/nginx']) },
  admesh: { name: 'admesh', pkg: 'admesh', locate: () => firstExisting(['/usr/bin/admesh']) },
  // The E2E tests' browser: Debian's, driven by playwright-core (which downloads none).
  chromium: {
    name: 'Chromium',
    pkg: 'chromium',
    locate: () => firstExisting(['/usr/bin/chromium']),
  },
} satisfies Record<string, DebianRequirement>;

export type Requirement = keyof typeof REQUIREMENTS;

const POLICY_RC = '/usr/sbin/policy-rc.d';

/**
 * Makes sure the Debian packages behind `wanted` are installed. As root on a Debian-like
 * system it runs `apt-get update` and `apt-get install`, with a policy-rc.d that stops the
 * packages' maintainer scripts from starting system-wide servers on every interface (we
 * start our own, on loopback). Otherwise it throws MISSING_PACKAGES naming the command.
 */
export function ensureInstalled(
  wanted: readonly Requirement[],
  log: (line: string) => void = () => {},
): void {
  const missing = [...new Set(wanted)].filter((key) => !REQUIREMENTS[key].locate());
  if (missing.length === 0) return;
  const pkgs = [...new Set(missing.map((key) => REQUIREMENTS[key].pkg))];
  const names = missing.map((key) => REQUIREMENTS[key].name).join(', ');
  const command = `apt-get install -y --no-install-recommends ${pkgs.join(' ')}`;
  if (!isRoot() || !existsSync('/usr/bin/apt-get')) {
    throw new ServicesError(
      'MISSING_PACKAGES',
      `${names} not installed. Install with: sudo apt-get update && sudo ${command}`,
    );
  }
  log(`installing ${pkgs.join(', ')} with apt-get (missing: ${names})`);
  // Our own policy-rc.d for the install, whatever the machine had: a permissive one would let
  // the packages start system-wide servers (PostgreSQL on 5432, RabbitMQ and epmd on every
  // interface). The machine's own file is put back afterwards.
  const saved = existsSync(POLICY_RC) ? `${POLICY_RC}.meskit-saved` : undefined;
  if (saved) renameSync(POLICY_RC, saved);
  writeFileSync(POLICY_RC, '#!/bin/sh\n# meskit: do not start services on install\nexit 101\n', {
    mode: 0o755,
  });
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    for (const args of [['update'], ['install', '-y', '--no-install-recommends', ...pkgs]]) {
      const result = spawnSync('apt-get', args, { env, encoding: 'utf8', timeout: 600_000 });
      if (result.status !== 0) {
        throw new ServicesError(
          'INSTALL_FAILED',
          `apt-get ${args.join(' ')} failed (exit ${String(result.status)}):\n${(result.stderr || result.stdout || '').slice(-2000)}`,
        );
      }
    }
  } finally {
    if (saved) renameSync(saved, POLICY_RC);
    else rmSync(POLICY_RC, { force: true });
  }
  const still = missing.filter((key) => !REQUIREMENTS[key].locate());
  if (still.length > 0) {
    throw new ServicesError(
      'INSTALL_FAILED',
      `apt-get finished but ${still.map((key) => REQUIREMENTS[key].name).join(', ')} is still missing`,
    );
  }
}

/** The path of an installed requirement, or a MISSING_PACKAGES error. */
export function locate(key: Requirement): string {
  const path = REQUIREMENTS[key].locate();
  if (!path) {
    throw new ServicesError(
      'MISSING_PACKAGES',
      `${REQUIREMENTS[key].name} not installed: apt-get install ${REQUIREMENTS[key].pkg}`,
    );
  }
  return path;
}
