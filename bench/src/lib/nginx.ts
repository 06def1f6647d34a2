import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { join } from 'node:path';
import { ensureInstalled, freePort, locate } from '@meskit/services';

export interface NginxCache {
  url: string;
  stop(): Promise<void>;
}

/**
 * nginx (Debian package) on loopback as a caching reverse proxy in front of `upstream`: TTL
 * caching (`proxy_cache_valid`), one refresh at a time with the others served stale
 * (`proxy_cache_lock`, `proxy_cache_use_stale updating`), keep-alive to the upstream. The
 * commodity way to make a slow page fast, without invalidation.
 */
export async function startNginxCache(opts: {
  upstream: string;
  dir: string;
  ttlSeconds: number;
  log?: (line: string) => void;
}): Promise<NginxCache> {
  ensureInstalled(['nginx'], opts.log);
  const port = await freePort();
  const upstream = new URL(opts.upstream);
  mkdirSync(join(opts.dir, 'cache'), { recursive: true });
  mkdirSync(join(opts.dir, 'logs'), { recursive: true });
  // Started as root, nginx's worker runs as nobody: it must reach its cache and temp dirs
  // (a mkdtemp directory is 0700).
  for (const path of [dirname(opts.dir), opts.dir, join(opts.dir, 'cache')]) chmodSync(path, 0o755);
  const conf = join(opts.dir, 'nginx.conf');
  writeFileSync(
    conf,
    `worker_processes 1;
daemon off;
pid ${join(opts.dir, 'nginx.pid')};
error_log ${join(opts.dir, 'logs', 'error.log')} warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${join(opts.dir, 'client_body')};
  proxy_temp_path ${join(opts.dir, 'proxy_temp')};
  fastcgi_temp_path ${join(opts.dir, 'fastcgi_temp')};
  uwsgi_temp_path ${join(opts.dir, 'uwsgi_temp')};
  scgi_temp_path ${join(opts.dir, 'scgi_temp')};
  proxy_cache_path ${join(opts.dir, 'cache')} levels=1:2 keys_zone=mes:10m max_size=100m inactive=10m;
  upstream mes { server ${upstream.hostname}:${upstream.port}; keepalive 32; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://mes;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache mes;
      proxy_cache_valid 200 ${opts.ttlSeconds}s;
      proxy_cache_lock on;
      proxy_cache_use_stale updating;
      proxy_cache_background_update on;
    }
  }
}
`,
  );
  // Run as the user this process is, whatever that is (root: nginx drops to nobody itself).
  const child: ChildProcess = spawn(locate('nginx'), ['-p', opts.dir, '-c', conf], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited ${child.exitCode}: ${stderr}`);
    try {
      await fetch(`${url}/health`).then((r) => r.arrayBuffer());
      break;
    } catch {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`nginx did not listen on ${url} within 10 s: ${stderr}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  let stopped: Promise<void> | undefined;
  return {
    url,
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGQUIT');
        setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
      });
      return stopped;
    },
  };
}
