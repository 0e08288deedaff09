// The selection parameters of Consul's list reads: `?tag=` (repeatable: an instance must have every
// tag), `?node-meta=key:value` (repeatable: the node must have every pair) and `?filter=` (an
// expression, src/filter). Parsed once per request; a bad filter is a 400 that points at the column.
import type { CatalogNode, ServiceInstance } from '../catalog/types.js';
import { evaluate, type FilterNode, parseFilter } from '../filter/filter.js';
import { invalid } from '../shared/errors.js';
import { type Query, single } from './params.js';

export interface Selection {
  tags: string[];
  nodeMeta: Record<string, string>;
  filter: FilterNode | undefined;
}

const all = (q: Query, name: string): string[] => {
  const v = q[name];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
};

export function selectionOf(q: Query): Selection {
  const nodeMeta: Record<string, string> = {};
  for (const pair of all(q, 'node-meta')) {
    const i = pair.indexOf(':');
    if (i <= 0) throw invalid(`query parameter node-meta must be key:value, got ${JSON.stringify(pair)}`);
    nodeMeta[pair.slice(0, i)] = pair.slice(i + 1);
  }
  const expression = single(q, 'filter');
  return {
    tags: all(q, 'tag'),
    nodeMeta,
    filter: expression === undefined || expression === '' ? undefined : parseFilter(expression),
  };
}

export function nodeMetaMatches(node: Pick<CatalogNode, 'Meta'>, want: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(want)) if (node.Meta[k] !== v) return false;
  return true;
}

export function tagsMatch(service: Pick<ServiceInstance, 'Tags'>, tags: readonly string[]): boolean {
  return tags.every((t) => service.Tags.includes(t));
}

/** Keeps the records the selection's filter holds for (all of them without one). */
export function filtered<T>(s: Selection, records: T[]): T[] {
  const f = s.filter;
  return f === undefined ? records : records.filter((r) => evaluate(f, r));
}

/** The same for map-shaped answers (GET /v1/agent/services, /v1/agent/checks). */
export function filteredMap<T>(s: Selection, map: Record<string, T>): Record<string, T> {
  const f = s.filter;
  return f === undefined ? map : Object.fromEntries(Object.entries(map).filter(([, v]) => evaluate(f, v)));
}
