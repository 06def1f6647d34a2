// Route paths are written once, OpenAPI-style (`/api/orders/{id}`), and compiled here into what
// the server needs: the regex a request path is matched with, the low-cardinality name of the
// request log line (`/api/orders/:id`) and the concrete paths openapi.yaml lists.

export type RouteMethod = 'GET' | 'POST';

export interface CompiledPath {
  /** Matches a request's path; its groups are the parameters, in template order. */
  pattern: RegExp;
  /** The route's name in the request log line: each `{param}` as `:param`. */
  name: string;
  /** The OpenAPI paths of the route: one per combination of the enumerated parameters. */
  expanded: readonly string[];
}

const PARAM = /^\{([A-Za-z][A-Za-z0-9]*)\}$/;

/**
 * Compiles `template`. A parameter listed in `choices` matches only those values (and expands
 * into one path per value); any other parameter matches one non-empty path segment.
 */
export function compilePath(
  template: string,
  choices: Readonly<Record<string, readonly string[]>> = {},
): CompiledPath {
  if (!template.startsWith('/')) throw new Error(`route path must start with /: ${template}`);
  const segments = template.slice(1).split('/');
  const regex: string[] = [];
  const name: string[] = [];
  let expanded: string[] = [''];
  for (const segment of segments) {
    const param = PARAM.exec(segment)?.[1];
    if (param === undefined) {
      if (/[{}]/.test(segment)) throw new Error(`malformed route segment "${segment}"`);
      regex.push(escapeRegex(segment));
      name.push(segment);
      expanded = expanded.map((path) => `${path}/${segment}`);
      continue;
    }
    const values = choices[param];
    regex.push(values ? `(${values.map(escapeRegex).join('|')})` : '([^/]+)');
    name.push(`:${param}`);
    expanded = values
      ? expanded.flatMap((path) => values.map((value) => `${path}/${value}`))
      : expanded.map((path) => `${path}/${segment}`);
  }
  return {
    pattern: new RegExp(`^/${regex.join('/')}$`),
    name: `/${name.join('/')}`,
    expanded,
  };
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
