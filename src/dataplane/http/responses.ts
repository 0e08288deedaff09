// The shapes of the answers the data plane reads, as Consul (and meshpeer) sends them. Loose: fields
// the data plane does not use are let through, so a newer server does not break an older proxy.
import { z } from 'zod';
import { type Endpoint, parseEndpoint } from '../endpoint.js';
import type { ServerAclState } from '../proxy/default-intention.js';

export const caRootsSchema = z.looseObject({
  ActiveRootID: z.string(),
  TrustDomain: z.string(),
  Roots: z
    .array(z.looseObject({ ID: z.string(), RootCert: z.string(), Active: z.boolean().optional() }))
    .nullable(),
});
export type CaRoots = z.output<typeof caRootsSchema>;

export const leafSchema = z.looseObject({
  SerialNumber: z.string(),
  CertPEM: z.string(),
  PrivateKeyPEM: z.string(),
  Service: z.string(),
  ServiceURI: z.string(),
  ValidAfter: z.string(),
  ValidBefore: z.string(),
});
export type LeafResponse = z.output<typeof leafSchema>;

export const trustBundlesSchema = z
  .array(
    z.looseObject({
      PeerName: z.string(),
      TrustDomain: z.string(),
      RootPEMs: z.array(z.string()).nullable(),
    }),
  )
  .nullable();

export type TrustBundlesAnswer = z.output<typeof trustBundlesSchema>;

const aclFlagsSchema = z.looseObject({
  ACLsEnabled: z.boolean().optional(),
  ACLDefaultPolicy: z.string().optional(),
});
const agentSelfAclSchema = z.looseObject({
  DebugConfig: aclFlagsSchema.extend({ ACLResolverSettings: aclFlagsSchema.optional() }).optional(),
});

/**
 * The ACL state in a /v1/agent/self answer, where Consul reports it: DebugConfig.ACLsEnabled and
 * DebugConfig.ACLResolverSettings.ACLDefaultPolicy (DebugConfig.ACLDefaultPolicy before 1.11).
 * Either enabled flag counts as enabled; an answer with neither reports nothing.
 */
export function aclStateOf(body: unknown): ServerAclState {
  const parsed = agentSelfAclSchema.safeParse(body);
  const debug = parsed.success ? parsed.data.DebugConfig : undefined;
  const resolver = debug?.ACLResolverSettings;
  const flags = [debug?.ACLsEnabled, resolver?.ACLsEnabled].filter((f) => f !== undefined);
  if (flags.length === 0) return { kind: 'unreported' };
  const defaultPolicy = resolver?.ACLDefaultPolicy ?? debug?.ACLDefaultPolicy;
  return {
    kind: 'reported',
    enabled: flags.includes(true),
    ...(defaultPolicy === undefined ? {} : { defaultPolicy }),
  };
}

const checkSchema = z.looseObject({ Status: z.string().optional() });

export const healthServiceSchema = z
  .array(
    z.looseObject({
      Node: z.looseObject({ Node: z.string().optional(), Address: z.string().optional() }).nullish(),
      Service: z.looseObject({
        ID: z.string().optional(),
        Service: z.string(),
        Kind: z.string().optional(),
        Address: z.string().optional(),
        Port: z.number().int(),
        Meta: z.record(z.string(), z.string()).nullish(),
        Proxy: z
          .looseObject({
            DestinationServiceName: z.string().optional(),
            DestinationServiceID: z.string().optional(),
            LocalServicePort: z.number().optional(),
          })
          .nullish(),
      }),
      Checks: z.array(checkSchema).nullish(),
    }),
  )
  .nullable();
export type HealthService = NonNullable<z.output<typeof healthServiceSchema>>[number];

export const catalogServiceSchema = z
  .array(
    z.looseObject({
      Address: z.string().optional(),
      ServiceKind: z.string().optional(),
      ServiceAddress: z.string().optional(),
      ServicePort: z.number().int(),
    }),
  )
  .nullable();

export const catalogServicesSchema = z.record(z.string(), z.array(z.string()).nullable()).nullable();

export const peerServersSchema = z
  .array(z.looseObject({ PeerName: z.string(), TrustDomain: z.string(), Addresses: z.array(z.string()) }))
  .nullable();

/** Instances that can take traffic: no critical check. Warning still serves, as in Consul. */
export function healthyEndpoints(entries: readonly HealthService[]): Endpoint[] {
  return dedupe(
    entries
      .filter((e) => !(e.Checks ?? []).some((c) => c.Status === 'critical'))
      .map((e) => ({ host: e.Service.Address || e.Node?.Address || '', port: e.Service.Port }))
      .filter((e) => e.host !== '' && e.port > 0),
  );
}

/** Every check passes (an instance with no checks counts as passing, as in Consul's ?passing). */
export function allPassing(entry: HealthService): boolean {
  return (entry.Checks ?? []).every((c) => c.Status === 'passing');
}

function endpointOf(e: HealthService): Endpoint {
  return { host: e.Service.Address || e.Node?.Address || '', port: e.Service.Port };
}

/** Instances whose checks all pass; for imported instances, the exporter's checks as replicated. */
export function passingEndpoints(entries: readonly HealthService[]): Endpoint[] {
  return dedupe(
    entries
      .filter(allPassing)
      .map(endpointOf)
      .filter((e) => e.host !== '' && e.port > 0),
  );
}

/**
 * The sidecars (from /v1/health/connect) that can take traffic: their own checks pass, and so do
 * those of the instance each fronts (from /v1/health/service of the same name) — the instance is on
 * the sidecar's node and is Proxy.DestinationServiceID, else the one on Proxy.LocalServicePort, else
 * every instance of the service on that node. What Consul's alias check on a sidecar does. A sidecar
 * whose instance is not registered counts by its own checks.
 */
export function passingConnectEndpoints(
  proxies: readonly HealthService[],
  instances: readonly HealthService[],
  /** Only sidecars in front of an instance this selects (a resolver subset), when given. */
  inSubset?: (instance: HealthService) => boolean,
): Endpoint[] {
  const fronted = (proxy: HealthService): HealthService[] => {
    const destination = proxy.Service.Proxy?.DestinationServiceName;
    if (proxy.Service.Kind !== 'connect-proxy' || !destination) return [];
    const node = proxy.Node?.Node ?? '';
    const onNode = instances.filter(
      (i) => i.Service.Service === destination && (i.Node?.Node ?? '') === node,
    );
    const id = proxy.Service.Proxy?.DestinationServiceID;
    if (id) return onNode.filter((i) => i.Service.ID === id);
    const port = proxy.Service.Proxy?.LocalServicePort;
    const onPort = port ? onNode.filter((i) => i.Service.Port === port) : [];
    return onPort.length > 0 ? onPort : onNode;
  };
  return dedupe(
    proxies
      .filter((p) => allPassing(p) && fronted(p).every(allPassing))
      .filter((p) => inSubset === undefined || fronted(p).some(inSubset))
      .map(endpointOf)
      .filter((e) => e.host !== '' && e.port > 0),
  );
}

export function dedupe(endpoints: readonly Endpoint[]): Endpoint[] {
  const seen = new Map<string, Endpoint>();
  for (const e of endpoints) seen.set(`${e.host}|${e.port}`, e);
  return [...seen.values()];
}

/** `host:port` strings from the server; ones that do not parse are dropped. */
export function endpointsFrom(addresses: readonly string[]): Endpoint[] {
  return addresses.flatMap((address) => {
    try {
      return [parseEndpoint(address)];
    } catch {
      return [];
    }
  });
}
