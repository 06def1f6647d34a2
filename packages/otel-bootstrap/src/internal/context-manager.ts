// The context manager of the SDK we start: upstream's AsyncLocalStorage one, plus `enter()`,
// and the lean root context (lean-context.ts) when none is active.
// Our HTTP server spans begin in Node's `http.server.request.start` diagnostics channel, which
// is published synchronously just before the server emits 'request'. There is no callback to
// wrap in `context.with()` there, so the span's context is entered for the rest of that
// synchronous execution (AsyncLocalStorage#enterWith): the request handler, and every promise,
// timer and socket callback it creates, then see the server span as active. Node restores the
// previous store when the parser's callback returns, so the context does not leak into the
// next I/O callback.
import type { Context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import type { AsyncLocalStorage } from 'node:async_hooks';
import { LEAN_ROOT_CONTEXT } from './lean-context.js';

export class EnterableContextManager extends AsyncLocalStorageContextManager {
  // The storage upstream creates in its constructor (protected in JS, private in its types).
  readonly #storage = (this as unknown as { _asyncLocalStorage: AsyncLocalStorage<Context> })
    ._asyncLocalStorage;

  /**
   * The active context; with none, the lean root (lean-context.ts), so that every context
   * derived from it (spans set, values added) is a LeanContext too.
   */
  override active(): Context {
    return this.#storage.getStore() ?? LEAN_ROOT_CONTEXT;
  }

  /** Makes `context` the active one for the rest of the current synchronous execution. */
  enter(context: Context): void {
    this.#storage.enterWith(context);
  }
}
