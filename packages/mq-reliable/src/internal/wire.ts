// What a message body becomes on the wire, and what a channel error says about it.

/** Bytes and strings as they are; anything else as JSON (`json`: its content type). */
export function encode(body: unknown): { content: Buffer; json: boolean } {
  if (Buffer.isBuffer(body)) return { content: body, json: false };
  if (body instanceof Uint8Array) return { content: Buffer.from(body), json: false };
  if (typeof body === 'string') return { content: Buffer.from(body), json: false };
  return { content: Buffer.from(JSON.stringify(body)), json: true };
}

/** The exchange a channel error says is missing (`NOT_FOUND - no exchange 'x' in vhost '/'`). */
export function missingExchange(error: Error | undefined): string | undefined {
  return error ? /no exchange '([^']*)'/.exec(error.message)?.[1] : undefined;
}
