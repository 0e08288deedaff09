// The config entry kinds meshpeer knows, and the one way in: `parseConfigEntry` dispatches on Kind,
// shapes the input (aliases, HCL blocks) and validates it with that kind's schema. Every schema follows
// one rule: accept what Consul accepts (zero values meaning the default, e.g. an intention source's
// Type ""), store the normalized form, refuse only what Consul refuses, naming the field.
import type { z } from 'zod';
import { invalid } from '../shared/errors.js';
import {
  EXPORTED_SERVICES_KIND,
  type ExportedServicesEntry,
  exportedServicesSchema,
} from './exported-services.js';
import { MESH_KIND, type MeshEntry, meshSchema } from './mesh.js';
import {
  PROXY_DEFAULTS_KIND,
  type ProxyDefaultsEntry,
  proxyDefaultsSchema,
  proxyDefaultsWarnings,
} from './proxy-defaults.js';
import {
  SERVICE_DEFAULTS_KIND,
  type ServiceDefaultsEntry,
  serviceDefaultsSchema,
} from './service-defaults.js';
import {
  SERVICE_INTENTIONS_KIND,
  type ServiceIntentionsEntry,
  serviceIntentionsSchema,
} from './service-intentions.js';
import {
  SERVICE_RESOLVER_KIND,
  type ServiceResolverEntry,
  serviceResolverSchema,
} from './service-resolver.js';
import { canonicalize, foldKey, isPlainObject } from './shape.js';
import { parseWithSchema } from './validate.js';

export const CONFIG_ENTRY_KINDS = [
  EXPORTED_SERVICES_KIND,
  MESH_KIND,
  PROXY_DEFAULTS_KIND,
  SERVICE_DEFAULTS_KIND,
  SERVICE_INTENTIONS_KIND,
  SERVICE_RESOLVER_KIND,
] as const;
export type ConfigEntryKind = (typeof CONFIG_ENTRY_KINDS)[number];

export type ConfigEntry =
  | ExportedServicesEntry
  | MeshEntry
  | ProxyDefaultsEntry
  | ServiceDefaultsEntry
  | ServiceIntentionsEntry
  | ServiceResolverEntry;

/** The entry type of one kind: `ConfigEntryOf<'mesh'>` is `MeshEntry`. */
export type ConfigEntryOf<K extends ConfigEntryKind> = Extract<ConfigEntry, { Kind: K }>;

const SCHEMAS: { readonly [K in ConfigEntryKind]: z.ZodType<ConfigEntryOf<K>, unknown> } = {
  [EXPORTED_SERVICES_KIND]: exportedServicesSchema,
  [MESH_KIND]: meshSchema,
  [PROXY_DEFAULTS_KIND]: proxyDefaultsSchema,
  [SERVICE_DEFAULTS_KIND]: serviceDefaultsSchema,
  [SERVICE_INTENTIONS_KIND]: serviceIntentionsSchema,
  [SERVICE_RESOLVER_KIND]: serviceResolverSchema,
};

/**
 * Fields Consul adds when it returns an entry. Accepted on input so `config read` output can be
 * written back, and dropped: the store owns them.
 */
const READ_ONLY_FIELDS = new Set(['createindex', 'modifyindex', 'hash']);

const KNOWN_KINDS_TEXT = CONFIG_ENTRY_KINDS.join(', ');

export function isConfigEntryKind(value: unknown): value is ConfigEntryKind {
  return typeof value === 'string' && (CONFIG_ENTRY_KINDS as readonly string[]).includes(value);
}

/** Checks a kind given on its own (a URL segment, a CLI argument); throws `invalid` naming the known kinds. */
export function parseConfigEntryKind(value: unknown): ConfigEntryKind {
  if (isConfigEntryKind(value)) return value;
  if (value === undefined || value === null || value === '') {
    throw invalid(`Kind: is required; known kinds: ${KNOWN_KINDS_TEXT}`);
  }
  throw invalid(`Kind: unknown config entry kind ${JSON.stringify(value)}; known kinds: ${KNOWN_KINDS_TEXT}`);
}

function describeNonObject(input: unknown): string {
  if (input === null) return 'null';
  return Array.isArray(input) ? 'a list' : typeof input;
}

/** The value of `Kind` (or `kind`) in raw input, without judging it. */
function rawKind(input: Record<string, unknown>): unknown {
  const key = Object.keys(input).find((k) => foldKey(k) === 'kind');
  return key === undefined ? undefined : input[key];
}

function withoutReadOnlyFields(input: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(input).filter(([key]) => !READ_ONLY_FIELDS.has(foldKey(key))));
}

/** The input with read-only fields dropped and its kind spelled `Kind`. */
function withKind(input: Record<string, unknown>, kind: ConfigEntryKind): Record<string, unknown> {
  const rest = Object.entries(withoutReadOnlyFields(input)).filter(([key]) => foldKey(key) !== 'kind');
  return { Kind: kind, ...Object.fromEntries(rest) };
}

/**
 * Brings raw input into Consul's JSON shape for its kind (PascalCase keys from snake_case/camelCase,
 * HCL blocks unwrapped, read-only fields dropped) without validating it. Input whose Kind is missing
 * or unknown is returned unchanged.
 */
export function normalizeConfigEntryShape(input: unknown): unknown {
  if (!isPlainObject(input)) return input;
  const kind = rawKind(input);
  if (!isConfigEntryKind(kind)) return input;
  return canonicalize(SCHEMAS[kind], withKind(input, kind));
}

/** Validates an entry of a known kind; throws `invalid` naming every offending field. */
export function parseConfigEntryOfKind<K extends ConfigEntryKind>(kind: K, input: unknown): ConfigEntryOf<K> {
  if (!isPlainObject(input)) {
    throw invalid(`invalid ${kind} config entry: expected an object, got ${describeNonObject(input)}`);
  }
  const given = rawKind(input);
  if (given !== undefined && given !== kind) {
    throw invalid(
      `invalid ${kind} config entry: Kind: must be ${JSON.stringify(kind)} (got ${JSON.stringify(given)})`,
    );
  }
  const schema: z.ZodType<ConfigEntryOf<K>, unknown> = SCHEMAS[kind];
  return parseWithSchema(schema, withKind(input, kind), `${kind} config entry`);
}

/**
 * Validates any config entry: dispatches on `Kind`, applies defaults and computed fields, and throws
 * `invalid` (naming the field) when anything is wrong.
 */
export function parseConfigEntry(input: unknown): ConfigEntry {
  if (!isPlainObject(input)) {
    throw invalid(`invalid config entry: expected an object, got ${describeNonObject(input)}`);
  }
  const kind = parseConfigEntryKind(rawKind(input));
  return parseConfigEntryOfKind(kind, input);
}

/** The identity of an entry in the store: kind and name. */
export function configEntryKey(entry: ConfigEntry): { kind: ConfigEntryKind; name: string } {
  return { kind: entry.Kind, name: entry.Name };
}

/** Valid-but-suspicious settings, as sentences for an API response or a CLI to show. */
export function configEntryWarnings(entry: ConfigEntry): string[] {
  return entry.Kind === PROXY_DEFAULTS_KIND ? proxyDefaultsWarnings(entry) : [];
}
