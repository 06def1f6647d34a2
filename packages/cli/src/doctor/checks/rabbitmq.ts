import { connect, type ChannelModel } from 'amqplib';
import { endpointOf, urlCheck, onAbort } from '../../internal/check-helpers.js';
import { amqpTls } from '@meskit/kernel';
import { describeError } from '../describe-error.js';
import { tlsFactsOf, withTls } from '../tls-facts.js';
import type { DoctorCheck } from '../types.js';

/** `rabbitmq`: opens an AMQP connection and a channel; reports the broker's product and version. */
export const rabbitmqCheck: DoctorCheck = urlCheck({
  id: 'rabbitmq',
  title: 'RabbitMQ',
  setting: 'amqpUrl',
  async run(ctx, url) {
    const endpoint = endpointOf(url, url.startsWith('amqps:') ? 5671 : 5672);

    // amqplib's connect() cannot be cancelled; if the time limit passes first, the
    // connection that arrives later is closed as soon as it does. `timeout` bounds the
    // socket until the AMQP handshake completes, so a silent peer cannot hold it open.
    let abandoned = false;
    let connection: ChannelModel | undefined;
    const detach = onAbort(ctx.signal, () => {
      abandoned = true;
      void connection?.close().catch(() => {});
    });
    try {
      ctx.step(`connecting to RabbitMQ at ${endpoint}`);
      try {
        // amqps:// with RabbitMQ's URI parameters (cacertfile...), as the components read it.
        const tls = amqpTls(url);
        connection = await connect(tls.url, {
          ...tls.options,
          timeout: ctx.timeoutMs,
          clientProperties: { connection_name: 'meskit-doctor' },
        });
      } catch (err) {
        throw new Error(`cannot connect to RabbitMQ at ${endpoint}: ${describeError(err)}`, {
          cause: err,
        });
      }
      // A broker closing the connection (e.g. a vhost being deleted) emits 'error'; the
      // pending call rejects as well, which is where it is reported.
      connection.on('error', () => {});
      if (abandoned) return { status: 'fail', message: 'abandoned after the time limit' };

      const server = connection.connection.serverProperties;
      const product = server.product || 'AMQP broker';
      const version = server.version || 'unknown';
      ctx.step(`opening a channel on RabbitMQ at ${endpoint}`);
      try {
        const channel = await connection.createChannel();
        await channel.close();
      } catch (err) {
        throw new Error(
          `connected to ${product} ${version} at ${endpoint}, but could not open a channel: ${describeError(err)}`,
          { cause: err },
        );
      }
      const platform = server.platform ? `, ${server.platform}` : '';
      return withTls(
        {
          status: 'pass',
          message: `${product} ${version} at ${endpoint}${platform}, channel opened`,
          details: { endpoint, product, version, platform: server.platform ?? null },
        },
        // amqplib keeps the socket as connection.stream (a TLSSocket for amqps://).
        tlsFactsOf((connection.connection as unknown as { stream?: unknown }).stream),
      );
    } finally {
      detach();
      await connection?.close().catch(() => {});
    }
  },
});
