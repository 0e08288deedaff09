// What the peer cannot tell this cluster's operator: why a service named for a peer in exported-services
// may not show up there, or not be usable. Shown as warnings in the peering's status.
import type { Catalog } from '../catalog/catalog.js';
import type { ConfigEntries } from '../config-entries/config-store.js';

/** One warning per service exported to `peer` by name with nothing registered, or nothing passing. */
export function exportWarnings(config: ConfigEntries, catalog: Catalog, peer: string): string[] {
  const entry = config.get('exported-services', 'default');
  const named = (entry?.Services ?? []).filter(
    (s) => s.Name !== '*' && s.Consumers.some((c) => 'Peer' in c && c.Peer === peer),
  );
  const warnings: string[] = [];
  for (const { Name } of named) {
    const instances = catalog.healthService(Name).filter((h) => h.Service.Kind === '');
    if (instances.length === 0) {
      warnings.push(
        `${Name} is exported to ${peer} but no instance of it is registered here, so ${peer} imports nothing`,
      );
    } else if (!instances.some((h) => h.Checks.every((c) => c.Status === 'passing'))) {
      warnings.push(
        `${Name} is exported to ${peer} but none of its ${instances.length} instances is passing its health checks`,
      );
    }
  }
  return warnings;
}
