// Turns a zod error into one sentence that names the offending field, in Consul's PascalCase paths.
import type { ZodError } from 'zod';

type PathSegment = PropertyKey;

// Map keys that are not plain identifiers (a failover for "*", a Meta key with dots) are shown
// quoted in brackets so the path stays readable: Failover["*"].Targets[0].
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_-]*$/;

function renderPath(root: string, path: readonly PathSegment[]): string {
  const rendered = path
    .map((p) => {
      if (typeof p === 'number') return `[${p}]`;
      const key = String(p);
      return IDENTIFIER.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
    })
    .join('');
  return `${root}${rendered}`.replace(/^\./, '') || 'body';
}

export function describeZodError(error: ZodError, root = ''): string {
  return error.issues
    .flatMap((issue) => {
      // One entry per unknown key, each naming the key itself rather than its parent object.
      if (issue.code === 'unrecognized_keys') {
        return issue.keys.map((key) => `${renderPath(root, [...issue.path, key])}: unknown field`);
      }
      return [`${renderPath(root, issue.path)}: ${issue.message}`];
    })
    .join('; ');
}
