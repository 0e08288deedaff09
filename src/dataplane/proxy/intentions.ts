// Intention enforcement at L4: which service-intentions source matches a verified caller, and what
// it says. The most precedent matching source wins; a tie between allow and deny denies.
import type { VerifiedIdentity } from '../../ca/index.js';
import type { IntentionAction, IntentionSource, ServiceIntentionsEntry } from '../../config-entries/index.js';

export interface IntentionDecision {
  action: IntentionAction;
  /** Which rule decided, for logs and refusals. */
  reason: string;
}

const DEFAULT = 'default';
const WILDCARD = '*';

export function authorize(
  caller: VerifiedIdentity,
  destination: string,
  entries: readonly ServiceIntentionsEntry[],
  defaultAction: IntentionAction,
): IntentionDecision {
  let best: { source: IntentionSource; entry: ServiceIntentionsEntry } | undefined;
  for (const entry of entries) {
    if (entry.Name !== destination && entry.Name !== WILDCARD) continue;
    for (const source of entry.Sources) {
      if (!matches(source, caller)) continue;
      if (!best || source.Precedence > best.source.Precedence || isStricterTie(source, best.source)) {
        best = { source, entry };
      }
    }
  }
  if (!best)
    return { action: defaultAction, reason: `no intention matches; the default is ${defaultAction}` };
  const rule = `intention ${describeSource(best.source)} → ${best.entry.Name}`;
  if (!best.source.Action) {
    // L7 permissions need an HTTP request to judge; a TCP proxy cannot, so it does not guess "allow".
    return { action: 'deny', reason: `${rule} has L7 permissions, which cannot be enforced on TCP` };
  }
  return { action: best.source.Action, reason: `${rule} says ${best.source.Action}` };
}

function isStricterTie(candidate: IntentionSource, current: IntentionSource): boolean {
  return (
    candidate.Precedence === current.Precedence && candidate.Action === 'deny' && current.Action !== 'deny'
  );
}

function matches(source: IntentionSource, caller: VerifiedIdentity): boolean {
  const id = caller.identity;
  if (id.kind !== 'service') return false;
  if (source.Peer) {
    if (caller.peerName !== source.Peer) return false;
  } else {
    // Sameness groups are not resolved by meshpeer; such a source matches nobody rather than everybody.
    if (caller.peerName !== undefined || source.SamenessGroup) return false;
    if ((source.Partition || DEFAULT) !== id.partition) return false;
  }
  const namespace = source.Namespace || DEFAULT;
  if (namespace !== WILDCARD && namespace !== id.namespace) return false;
  return source.Name === WILDCARD || source.Name === id.service;
}

function describeSource(source: IntentionSource): string {
  return source.Peer ? `peer ${source.Peer}/${source.Name}` : source.Name;
}
