// Which server a SQL text may run on, decided on PostgreSQL's own grammar: libpg-query is the
// server's parser (libpg_query) compiled to WebAssembly, so what it reads as a plain SELECT is
// what PostgreSQL reads as one (ADR 0008). A decision is cached per text: queries are
// parameterised and repeat, so the parse (about 20 µs) is paid once per distinct text.
import { loadModule, parseSync, scanSync } from 'libpg-query';
import type { Route } from './route.js';

await loadModule();

/** Statements whose presence anywhere in a SELECT makes it a write (data-modifying CTEs). */
const WRITE_NODES = new Set(['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt']);
/** Plain reads besides SELECT. */
const READ_STATEMENTS = new Set(['VariableShowStmt']);
const HINT = 'meskit:primary';
const CACHE_SIZE = 2_000;
/** Longer texts are classified every time (built SQL, not a repeated statement): bounded memory. */
const CACHE_MAX_TEXT = 8_192;

interface Facts {
  writes: boolean;
  locking: boolean;
  into: boolean;
  functions: string[];
}

/** One pass over a statement's tree, collecting what decides its route. */
function walk(node: unknown, facts: Facts): void {
  if (Array.isArray(node)) {
    for (const child of node) walk(child, facts);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
    if (value === null || typeof value !== 'object') continue;
    if (WRITE_NODES.has(key)) facts.writes = true;
    else if (key === 'lockingClause') facts.locking = true;
    else if (key === 'intoClause') facts.into = true;
    else if (key === 'FuncCall') {
      const name = (value as { funcname?: { String?: { sval?: string } }[] }).funcname;
      const last = name?.[name.length - 1]?.String?.sval;
      if (last) facts.functions.push(last.toLowerCase());
    }
    walk(value, facts);
  }
}

function primary(reason: Route['reason'], writes = true, functions: string[] = []): Route {
  return { target: 'primary', reason, writes, functions };
}

/** The route of one SQL text, before the volatility check. */
export function classifyText(text: string): Route {
  let parsed: ReturnType<typeof parseSync>;
  try {
    parsed = parseSync(text);
  } catch {
    return primary('unknown');
  }
  const stmts = parsed.stmts ?? [];
  if (stmts.length !== 1) return primary(stmts.length === 0 ? 'unknown' : 'multi-statement');
  if (text.includes(HINT) && hinted(text)) return primary('hint', false);
  const stmt = stmts[0]!.stmt as Record<string, unknown> | undefined;
  const type = stmt ? Object.keys(stmt)[0] : undefined;
  if (!stmt || !type) return primary('unknown');
  let body = stmt[type];
  if (type === 'ExplainStmt') {
    // EXPLAIN of a read reads (EXPLAIN ANALYZE runs it: a write stays a write).
    const inner = (body as { query?: Record<string, unknown> }).query;
    const innerType = inner ? Object.keys(inner)[0] : undefined;
    if (!inner || innerType !== 'SelectStmt') return primary('write');
    body = inner[innerType];
  } else if (type === 'TransactionStmt') return primary('transaction', true);
  else if (READ_STATEMENTS.has(type))
    return { target: 'replica', reason: 'read', writes: false, functions: [] };
  else if (type !== 'SelectStmt') return primary('write');
  const facts: Facts = { writes: false, locking: false, into: false, functions: [] };
  walk(body, facts);
  if (facts.writes) return primary('modifying-cte', true, facts.functions);
  if (facts.into) return primary('write', true, facts.functions);
  if (facts.locking) return primary('locking', false, facts.functions);
  return { target: 'replica', reason: 'read', writes: false, functions: facts.functions };
}

/** Whether the hint is in a comment (not in a string literal or an identifier). */
function hinted(text: string): boolean {
  try {
    const { tokens } = scanSync(text);
    return tokens.some(
      (t) =>
        (t.tokenName === 'C_COMMENT' || t.tokenName === 'SQL_COMMENT') &&
        text.slice(t.start, t.end).includes(HINT),
    );
  } catch {
    return false;
  }
}

export interface Classifier {
  (text: string): Route;
  /** Drops the cached decisions (the volatile functions changed). */
  reset(): void;
}

/**
 * Classifies with a cache. Function calls in a read send it to the primary when the function
 * is volatile (`pg_proc.provolatile = 'v'`: nextval, setval, advisory locks, user functions
 * declared so), as `volatile()` resolves them; until it has, any call does (safe).
 */
export function classifier(opts: { volatile: () => Promise<Set<string>> }): Classifier {
  const cache = new Map<string, Route>();
  let volatile: Set<string> | undefined;
  const load = (attempt: number): void => {
    opts.volatile().then(
      (set) => {
        volatile = set;
        cache.clear();
      },
      () => {
        // The primary not reachable yet: try again, with any call to the primary meanwhile.
        const timer = setTimeout(() => load(attempt + 1), Math.min(30_000, 500 * 2 ** attempt));
        timer.unref();
      },
    );
  };
  load(0);
  const classify = ((text: string): Route => {
    const hit = cache.get(text);
    if (hit) return hit;
    let route = classifyText(text);
    if (route.target === 'replica' && route.functions.length > 0) {
      const known = volatile;
      if (!known || route.functions.some((f) => known.has(f)))
        route = primary('volatile', true, [...route.functions]);
    }
    if (text.length > CACHE_MAX_TEXT) return route;
    if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value as string);
    cache.set(text, route);
    return route;
  }) as Classifier;
  classify.reset = () => cache.clear();
  return classify;
}
