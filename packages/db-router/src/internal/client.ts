// A pool client lent out by the router: its `query` sees each statement first (to record the
// decision and move the context's position), and `release` puts the client back as it came,
// after an optional clean-up statement, so the next checkout (another context's) gets pg's own.
import type pg from 'pg';

type Statement = string | pg.QueryConfig;

export function lendClient(
  client: pg.PoolClient,
  hooks: {
    /** Sees every statement before it is sent; throws to refuse it. */
    onStatement(text: string): void;
    /** A statement to run before the client goes back to its pool (e.g. a RESET). */
    cleanUp?: string;
  },
): pg.PoolClient {
  const ownQuery = client.query;
  const ownRelease = client.release;
  const send = ownQuery.bind(client) as (...a: unknown[]) => unknown;
  const restore = () => {
    client.query = ownQuery;
    client.release = ownRelease;
  };
  client.release = (error?: Error | boolean) => {
    restore();
    if (error || hooks.cleanUp === undefined) return ownRelease.call(client, error);
    // A client whose clean-up fails is not trusted with the next checkout: it is destroyed.
    client.query(hooks.cleanUp).then(
      () => ownRelease.call(client),
      (failed: Error) => ownRelease.call(client, failed),
    );
  };
  (client as { query: unknown }).query = (...a: unknown[]) => {
    const first = a[0] as Statement;
    const text = typeof first === 'string' ? first : first.text;
    try {
      hooks.onStatement(text);
    } catch (error) {
      // As pg reports a failed query: a rejection, or the callback when one was given.
      const callback = a.find((x): x is (e: unknown) => void => typeof x === 'function');
      if (callback) {
        queueMicrotask(() => callback(error));
        return undefined;
      }
      return Promise.reject(error);
    }
    return send(...a);
  };
  return client;
}
