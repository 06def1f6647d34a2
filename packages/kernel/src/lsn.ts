// PostgreSQL WAL positions (`pg_lsn`, written `16/B374D848`: two 32-bit halves in hex) as
// bigints: the read-your-writes token of the MES contract (`MESSAGE_HEADERS.lsn`,
// `x-meskit-lsn`), made by db-router and the outbox relay, carried by cache-proxy.

const LSN = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

/** The position as a bigint, or undefined when `text` is not a pg_lsn. */
export function parseLsn(text: unknown): bigint | undefined {
  if (typeof text !== 'string') return undefined;
  const m = LSN.exec(text.trim());
  if (!m) return undefined;
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

/** The position as PostgreSQL writes it (`16/B374D848`). */
export function formatLsn(lsn: bigint): string {
  const high = (lsn >> 32n).toString(16).toUpperCase();
  const low = (lsn & 0xffffffffn).toString(16).toUpperCase();
  return `${high}/${low}`;
}

/** The later of two positions (undefined counts as none). */
export function laterLsn(a: bigint | undefined, b: bigint | undefined): bigint | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a > b ? a : b;
}

/**
 * The newest of the tokens it was shown (`see`), as a token: what a client that talks to the
 * MES on behalf of several requests (cache-proxy) sends back so that its reads are no older
 * than anything it has seen.
 */
export interface TokenTracker {
  see(token: unknown): void;
  readonly newest: string | undefined;
}

export function createTokenTracker(): TokenTracker {
  let newest: bigint | undefined;
  let text: string | undefined;
  return {
    see(token) {
      const lsn = parseLsn(
        Array.isArray(token) ? token[0] : Buffer.isBuffer(token) ? token.toString() : token,
      );
      if (lsn !== undefined && (newest === undefined || lsn > newest)) {
        newest = lsn;
        text = formatLsn(lsn);
      }
    },
    get newest() {
      return text;
    },
  };
}
