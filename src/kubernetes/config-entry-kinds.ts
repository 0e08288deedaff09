// The five config-entry CRDs and how each resource becomes a Consul config entry: the entry's kind,
// its name, and its fields from the spec (camelCase here; src/config-entries brings them into Consul's
// PascalCase shape and validates them).
import {
  type ConfigEntryKind,
  EXPORTED_SERVICES_KIND,
  MESH_KIND,
  PROXY_DEFAULTS_KIND,
  SERVICE_INTENTIONS_KIND,
  SERVICE_RESOLVER_KIND,
} from '../config-entries/index.js';
import type { CustomResource, ResourceKind } from './resources.js';

export interface ConfigEntryResourceKind extends ResourceKind {
  entryKind: ConfigEntryKind;
  /** The entry's Name, or a sentence saying what is missing. */
  entryName(obj: CustomResource): string | { problem: string };
  /** The entry's own fields from the spec (everything but Kind, Name and Meta). */
  entryFields(spec: Record<string, unknown>): Record<string, unknown>;
}

const byMetadataName = (obj: CustomResource): string => obj.metadata.name;
const wholeSpec = (spec: Record<string, unknown>): Record<string, unknown> => spec;

export const MESH: ConfigEntryResourceKind = {
  kind: 'Mesh',
  plural: 'meshes',
  entryKind: MESH_KIND,
  entryName: byMetadataName,
  entryFields: wholeSpec,
};

export const EXPORTED_SERVICES: ConfigEntryResourceKind = {
  kind: 'ExportedServices',
  plural: 'exportedservices',
  entryKind: EXPORTED_SERVICES_KIND,
  entryName: byMetadataName,
  entryFields: wholeSpec,
};

export const PROXY_DEFAULTS: ConfigEntryResourceKind = {
  kind: 'ProxyDefaults',
  plural: 'proxydefaults',
  entryKind: PROXY_DEFAULTS_KIND,
  entryName: byMetadataName,
  entryFields: wholeSpec,
};

export const SERVICE_RESOLVER: ConfigEntryResourceKind = {
  kind: 'ServiceResolver',
  plural: 'serviceresolvers',
  entryKind: SERVICE_RESOLVER_KIND,
  entryName: byMetadataName,
  entryFields: wholeSpec,
};

/** A ServiceIntentions entry is named after its destination, not after the resource. */
export const SERVICE_INTENTIONS: ConfigEntryResourceKind = {
  kind: 'ServiceIntentions',
  plural: 'serviceintentions',
  entryKind: SERVICE_INTENTIONS_KIND,
  entryName(obj) {
    const spec = obj.spec;
    const destination =
      spec && typeof spec === 'object' && 'destination' in spec ? (spec.destination as unknown) : undefined;
    const name =
      destination && typeof destination === 'object' && 'name' in destination ? destination.name : undefined;
    if (typeof name === 'string' && name !== '') return name;
    return { problem: 'spec.destination.name: is required (it names the service the intentions protect)' };
  },
  entryFields(spec) {
    const { destination: _destination, ...fields } = spec;
    return fields;
  },
};

export const CONFIG_ENTRY_RESOURCE_KINDS: readonly ConfigEntryResourceKind[] = [
  MESH,
  EXPORTED_SERVICES,
  PROXY_DEFAULTS,
  SERVICE_INTENTIONS,
  SERVICE_RESOLVER,
];
