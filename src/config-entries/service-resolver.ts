// The service-resolver config entry: subsets of one service's instances, a redirect to another
// service (possibly in a peer), failover targets (possibly in peers), timeouts and load balancing.
import { z } from 'zod';
import { parseFilter } from '../filter/filter.js';
import { commonFields } from './common.js';
import { durationSchema, nanosecondsDurationSchema } from './duration.js';
import {
  isSet,
  nonEmptyString,
  peerNameSchema,
  serviceNameSchema,
  subsetNameProblem,
  WILDCARD,
} from './names.js';

export const SERVICE_RESOLVER_KIND = 'service-resolver';

type Issue = { path: (string | number)[]; message: string };

/** Where a redirect or failover target lives: at most one of Peer, Datacenter, Partition, SamenessGroup. */
function placementIssues(target: {
  Peer?: string | undefined;
  Datacenter?: string | undefined;
  Partition?: string | undefined;
  SamenessGroup?: string | undefined;
}): Issue[] {
  const issues: Issue[] = [];
  if (isSet(target.Peer)) {
    for (const other of ['Datacenter', 'Partition', 'SamenessGroup'] as const) {
      if (isSet(target[other])) {
        issues.push({
          path: ['Peer'],
          message: `cannot be set together with ${other}: a peer is already a whole other cluster`,
        });
      }
    }
  }
  if (isSet(target.SamenessGroup) && isSet(target.Datacenter)) {
    issues.push({ path: ['SamenessGroup'], message: 'cannot be set together with Datacenter' });
  }
  return issues;
}

const subsetSchema = z.strictObject({
  Filter: z.string().optional(),
  OnlyPassing: z.boolean().optional(),
});
export type ServiceResolverSubset = z.output<typeof subsetSchema>;

const redirectSchema = z
  .strictObject({
    Service: z.string().optional(),
    ServiceSubset: z.string().optional(),
    Namespace: z.string().optional(),
    Partition: z.string().optional(),
    Datacenter: z.string().optional(),
    Peer: peerNameSchema.optional(),
    SamenessGroup: z.string().optional(),
  })
  .superRefine((redirect, ctx) => {
    for (const issue of placementIssues(redirect)) ctx.addIssue({ code: 'custom', ...issue });
    if (Object.values(redirect).every((v) => !isSet(v))) {
      ctx.addIssue({ code: 'custom', message: 'is empty: set at least Service, Peer or Datacenter' });
    }
    if (isSet(redirect.ServiceSubset) && !isSet(redirect.Service)) {
      ctx.addIssue({ code: 'custom', path: ['ServiceSubset'], message: 'requires Service to be set' });
    }
  });
export type ServiceResolverRedirect = z.output<typeof redirectSchema>;

const failoverTargetSchema = z
  .strictObject({
    Service: z.string().optional(),
    ServiceSubset: z.string().optional(),
    Namespace: z.string().optional(),
    Partition: z.string().optional(),
    Datacenter: z.string().optional(),
    Peer: peerNameSchema.optional(),
  })
  .superRefine((target, ctx) => {
    for (const issue of placementIssues(target)) ctx.addIssue({ code: 'custom', ...issue });
    if (Object.values(target).every((v) => !isSet(v))) {
      ctx.addIssue({
        code: 'custom',
        message: 'is empty: set at least one of Service, Peer, Datacenter or Partition',
      });
    }
  });
export type ServiceResolverFailoverTarget = z.output<typeof failoverTargetSchema>;

const failoverSchema = z
  .strictObject({
    Service: z.string().optional(),
    ServiceSubset: z.string().optional(),
    Namespace: z.string().optional(),
    Datacenters: z.array(nonEmptyString).optional(),
    SamenessGroup: z.string().optional(),
    Targets: z.array(failoverTargetSchema).optional(),
  })
  .superRefine((failover, ctx) => {
    const targets = failover.Targets ?? [];
    const legacy: string[] = (['Service', 'ServiceSubset', 'Namespace', 'SamenessGroup'] as const).filter(
      (f) => isSet(failover[f]),
    );
    if ((failover.Datacenters ?? []).length > 0) legacy.push('Datacenters');
    if (targets.length > 0 && legacy.length > 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['Targets'],
        message: `cannot be combined with ${legacy.join(', ')}: put those in the targets instead`,
      });
    }
    if (targets.length === 0 && legacy.length === 0) {
      ctx.addIssue({
        code: 'custom',
        message: 'is empty: set Targets (or Service, ServiceSubset, Namespace, Datacenters, SamenessGroup)',
      });
    }
  });
export type ServiceResolverFailover = z.output<typeof failoverSchema>;

const HASH_POLICY_FIELDS = ['', 'header', 'cookie', 'query_parameter'] as const;

const hashPolicySchema = z
  .strictObject({
    Field: z.enum(HASH_POLICY_FIELDS).optional(),
    FieldValue: z.string().optional(),
    CookieConfig: z
      .strictObject({
        Session: z.boolean().optional(),
        TTL: nanosecondsDurationSchema.optional(),
        Path: z.string().optional(),
      })
      .optional(),
    SourceIP: z.boolean().optional(),
    Terminal: z.boolean().optional(),
  })
  .superRefine((policy, ctx) => {
    if (isSet(policy.Field) && policy.SourceIP) {
      ctx.addIssue({ code: 'custom', path: ['SourceIP'], message: 'cannot be set together with Field' });
    }
    if (isSet(policy.Field) && !isSet(policy.FieldValue)) {
      ctx.addIssue({
        code: 'custom',
        path: ['FieldValue'],
        message: `is required when Field is "${policy.Field}"`,
      });
    }
    if (!isSet(policy.Field) && !policy.SourceIP) {
      ctx.addIssue({ code: 'custom', message: 'must set Field (with FieldValue) or SourceIP' });
    }
    if (policy.CookieConfig && policy.Field !== 'cookie') {
      ctx.addIssue({
        code: 'custom',
        path: ['CookieConfig'],
        message: 'can only be set when Field is "cookie"',
      });
    }
    if (
      policy.CookieConfig?.Session &&
      policy.CookieConfig.TTL !== undefined &&
      policy.CookieConfig.TTL > 0
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['CookieConfig', 'TTL'],
        message: 'cannot be set for a session cookie (Session = true)',
      });
    }
  });

const loadBalancerSchema = z
  .strictObject({
    Policy: z.enum(['', 'random', 'round_robin', 'least_request', 'ring_hash', 'maglev']).optional(),
    LeastRequestConfig: z.strictObject({ ChoiceCount: z.int().min(0).optional() }).optional(),
    RingHashConfig: z
      .strictObject({
        MinimumRingSize: z.int().min(0).optional(),
        MaximumRingSize: z.int().min(0).optional(),
      })
      .optional(),
    HashPolicies: z.array(hashPolicySchema).optional(),
  })
  .superRefine((lb, ctx) => {
    if (lb.LeastRequestConfig && lb.Policy !== 'least_request') {
      ctx.addIssue({
        code: 'custom',
        path: ['LeastRequestConfig'],
        message: 'requires Policy "least_request"',
      });
    }
    if (lb.RingHashConfig && lb.Policy !== 'ring_hash') {
      ctx.addIssue({ code: 'custom', path: ['RingHashConfig'], message: 'requires Policy "ring_hash"' });
    }
    if ((lb.HashPolicies ?? []).length > 0 && lb.Policy !== 'ring_hash' && lb.Policy !== 'maglev') {
      ctx.addIssue({
        code: 'custom',
        path: ['HashPolicies'],
        message: 'requires Policy "ring_hash" or "maglev"',
      });
    }
    const ring = lb.RingHashConfig;
    if (ring?.MinimumRingSize && ring.MaximumRingSize && ring.MinimumRingSize > ring.MaximumRingSize) {
      ctx.addIssue({
        code: 'custom',
        path: ['RingHashConfig', 'MinimumRingSize'],
        message: `${ring.MinimumRingSize} is larger than MaximumRingSize ${ring.MaximumRingSize}`,
      });
    }
  });

export const serviceResolverSchema = z
  .strictObject({
    ...commonFields(SERVICE_RESOLVER_KIND),
    /** The service this resolver is for. */
    Name: serviceNameSchema,
    DefaultSubset: z.string().optional(),
    Subsets: z.record(z.string(), subsetSchema).optional(),
    Redirect: redirectSchema.optional(),
    Failover: z.record(z.string(), failoverSchema).optional(),
    ConnectTimeout: durationSchema.optional(),
    RequestTimeout: durationSchema.optional(),
    LoadBalancer: loadBalancerSchema.optional(),
    PrioritizeByLocality: z.strictObject({ Mode: z.enum(['', 'none', 'failover']).optional() }).optional(),
  })
  .superRefine((entry, ctx) => {
    if (entry.Name === WILDCARD) {
      ctx.addIssue({
        code: 'custom',
        path: ['Name'],
        message: 'must name one service; "*" is not allowed here',
      });
    }
    const subsets = entry.Subsets ?? {};
    for (const name of Object.keys(subsets)) {
      const problem = subsetNameProblem(name);
      if (problem) ctx.addIssue({ code: 'custom', path: ['Subsets', name], message: problem });
      const filter = subsets[name]?.Filter;
      if (filter !== undefined && filter !== '') {
        try {
          parseFilter(filter);
        } catch (err) {
          ctx.addIssue({
            code: 'custom',
            path: ['Subsets', name, 'Filter'],
            message: `is not a valid filter expression: ${(err as Error).message}`,
          });
        }
      }
    }
    if (isSet(entry.DefaultSubset) && !Object.hasOwn(subsets, entry.DefaultSubset)) {
      ctx.addIssue({
        code: 'custom',
        path: ['DefaultSubset'],
        message: `${JSON.stringify(entry.DefaultSubset)} is not one of the Subsets`,
      });
    }
    for (const key of Object.keys(entry.Failover ?? {})) {
      if (key !== WILDCARD && !Object.hasOwn(subsets, key)) {
        ctx.addIssue({
          code: 'custom',
          path: ['Failover', key],
          message: `${JSON.stringify(key)} is not one of the Subsets; use "*" for every subset`,
        });
      }
    }
    if (entry.Redirect) {
      const others = (['Subsets', 'DefaultSubset', 'Failover'] as const).filter((f) =>
        f === 'DefaultSubset' ? isSet(entry.DefaultSubset) : Object.keys(entry[f] ?? {}).length > 0,
      );
      for (const other of others) {
        ctx.addIssue({
          code: 'custom',
          path: [other],
          message: 'cannot be set together with Redirect: a redirected service resolves entirely elsewhere',
        });
      }
      const r = entry.Redirect;
      const toSelf =
        (!isSet(r.Service) || r.Service === entry.Name) &&
        !isSet(r.ServiceSubset) &&
        !isSet(r.Peer) &&
        !isSet(r.Datacenter) &&
        !isSet(r.Partition) &&
        !isSet(r.SamenessGroup) &&
        (!isSet(r.Namespace) || r.Namespace === (entry.Namespace || 'default'));
      if (toSelf) {
        ctx.addIssue({ code: 'custom', path: ['Redirect'], message: 'redirects the service to itself' });
      }
    }
  });
export type ServiceResolverEntry = z.output<typeof serviceResolverSchema>;

/** Peers this resolver may send traffic to (redirect and failover targets). */
export function resolverPeers(entry: ServiceResolverEntry): string[] {
  const peers = new Set<string>();
  const redirectPeer = entry.Redirect?.Peer;
  if (isSet(redirectPeer)) peers.add(redirectPeer);
  for (const failover of Object.values(entry.Failover ?? {})) {
    for (const target of failover.Targets ?? []) {
      if (isSet(target.Peer)) peers.add(target.Peer);
    }
  }
  return [...peers];
}
