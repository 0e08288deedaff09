// What to watch: a path and how to read its answer. Two watches with the same path are the same watch.
import type { z } from 'zod';
import {
  type ConfigEntryKind,
  type ConfigEntryOf,
  parseConfigEntryOfKind,
} from '../../config-entries/index.js';
import { invalid } from '../../shared/errors.js';
import { describeZodError } from '../../shared/zod-message.js';
import type { ApiResponse } from './consul-api.js';
import { type HealthService, healthServiceSchema } from './responses.js';

export interface Watch<T> {
  path: string;
  read(response: ApiResponse): T;
  /** Error statuses read() is given as answers instead of being retried as failures. */
  answerStatuses?: readonly number[];
  /**
   * For a path that cannot block (no X-Consul-Index): how long to wait between two reads that
   * changed nothing. Default: the watch set's minIntervalMs.
   */
  pollMs?: number;
}

/** A JSON answer checked against `schema`; a 404 is an error (the endpoint must exist). */
export function jsonWatch<T>(path: string, schema: z.ZodType<T>): Watch<T> {
  return {
    path,
    read: (response) => {
      if (response.status === 404) throw invalid(`GET ${path}: not found`);
      const parsed = schema.safeParse(response.body);
      if (!parsed.success) throw invalid(`GET ${path}: unexpected answer: ${describeZodError(parsed.error)}`);
      return parsed.data;
    },
  };
}

/** A config entry, validated by its kind's schema; undefined when there is none. */
export function configEntryWatch<K extends ConfigEntryKind>(
  kind: K,
  name: string,
): Watch<ConfigEntryOf<K> | undefined> {
  return {
    path: `/v1/config/${kind}/${encodeURIComponent(name)}`,
    read: (response) => (response.status === 404 ? undefined : parseConfigEntryOfKind(kind, response.body)),
  };
}

/** `path` with a `?peer=` query when `peer` is set. */
export function withPeer(path: string, peer: string | undefined): string {
  return peer ? `${path}?peer=${encodeURIComponent(peer)}` : path;
}

/**
 * A service's own instances with their checks (/v1/health/service), to tell whether the instance a
 * sidecar fronts passes; a 404 (a server without the route) means none known.
 */
export function instancesWatch(service: string): Watch<HealthService[] | null> {
  const json = jsonWatch(`/v1/health/service/${encodeURIComponent(service)}`, healthServiceSchema);
  return { ...json, read: (response) => (response.status === 404 ? [] : json.read(response)) };
}
