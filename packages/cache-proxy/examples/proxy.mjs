// A cache proxy in front of a running MES: node examples/proxy.mjs http://127.0.0.1:3000
// Optional: REDIS_URL, AMQP_URL, MESKIT_CACHE_ADMIN_TOKEN (16+ characters).
import { createCacheProxy } from '@meskit/cache-proxy';

const proxy = await createCacheProxy({
  upstream: process.argv[2] ?? 'http://127.0.0.1:3000',
  port: 8080,
  redis: process.env.REDIS_URL,
  amqpUrl: process.env.AMQP_URL,
  adminToken: process.env.MESKIT_CACHE_ADMIN_TOKEN,
});
console.log(`cache proxy on ${proxy.url}${proxy.adminUrl ? `, admin on ${proxy.adminUrl}` : ''}`);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => void proxy.close().then(() => process.exit(0)));
}
