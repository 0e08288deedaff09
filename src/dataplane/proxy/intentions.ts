// Intention enforcement at L4: which service-intentions source matches a verified caller, and what
// it says. The most precedent matching source wins; a tie between allow and deny denies. The rules
// are laid out once in decision order (intentionRules), so the first that matches decides: the Node
// sidecar walks that list per caller, and the HAProxy sidecar hands the same list to its Lua check.
import type { VerifiedIdentity } from '../../ca/index.js';
import type { IntentionAction, IntentionSource, ServiceIntentionsEntry } from '../../config-entries/index.js';

export interface IntentionDecision {
  action: IntentionAction;
  /** Which rule decided, for logs and refusals. */
  reason: string;
}

/** One intention source as a rule: which callers it matches and what it decides for them. */
export interface IntentionRule {
  /** Set: matches only callers of this peer (as we name it), in any partition. */
  peer?: string;
  /** Set for a local rule (peer unset): matches only local callers of this partition. */
  partition?: string;
  /** The caller's namespace, or "*". */
  namespace: string;
  /** The caller's service, or "*". */
  name: string;
  /** What the rule decides; an L7 rule (permissions, no action) denies. */
  action: IntentionAction;
  reason: string;
}

const DEFAULT = 'default';
const WILDCARD = '*';

// authorize runs per connection against the same few entry lists: the rules are laid out once each.
const laidOut = new WeakMap<readonly ServiceIntentionsEntry[], Map<string, readonly IntentionRule[]>>();

export function authorize(
  caller: VerifiedIdentity,
  destination: string,
  entries: readonly ServiceIntentionsEntry[],
  defaultAction: IntentionAction,
): IntentionDecision {
  const rule = intentionRules(destination, entries).find((r) => ruleMatches(r, caller));
  if (!rule)
    return { action: defaultAction, reason: `no intention matches; the default is ${defaultAction}` };
  return { action: rule.action, reason: rule.reason };
}

/**
 * The intentions for `destination` (entries naming it or "*") as rules in decision order: highest
 * precedence first, an explicit deny before anything else of the same precedence, otherwise in the
 * entries' order. The first rule that matches a caller decides; none matching means the default.
 * Sources that can match nobody (a sameness group, which meshpeer does not resolve) are left out.
 */
export function intentionRules(
  destination: string,
  entries: readonly ServiceIntentionsEntry[],
): readonly IntentionRule[] {
  let byDestination = laidOut.get(entries);
  if (!byDestination) {
    byDestination = new Map();
    laidOut.set(entries, byDestination);
  }
  let rules = byDestination.get(destination);
  if (!rules) {
    rules = layOut(destination, entries);
    byDestination.set(destination, rules);
  }
  return rules;
}

function layOut(destination: string, entries: readonly ServiceIntentionsEntry[]): IntentionRule[] {
  const candidates: { source: IntentionSource; rule: IntentionRule }[] = [];
  for (const entry of entries) {
    if (entry.Name !== destination && entry.Name !== WILDCARD) continue;
    for (const source of entry.Sources) {
      // Sameness groups are not resolved by meshpeer; such a source matches nobody rather than everybody.
      if (!source.Peer && source.SamenessGroup) continue;
      candidates.push({ source, rule: toRule(source, entry.Name) });
    }
  }
  // Array.prototype.sort is stable, so equal sources keep the entries' order.
  candidates.sort(
    (a, b) => b.source.Precedence - a.source.Precedence || denyFirst(a.source) - denyFirst(b.source),
  );
  return candidates.map((c) => c.rule);
}

function denyFirst(source: IntentionSource): number {
  return source.Action === 'deny' ? 0 : 1;
}

function toRule(source: IntentionSource, destinationName: string): IntentionRule {
  const who = source.Peer ? { peer: source.Peer } : { partition: source.Partition || DEFAULT };
  const rule = `intention ${describeSource(source)} → ${destinationName}`;
  const base = { ...who, namespace: source.Namespace || DEFAULT, name: source.Name };
  if (!source.Action) {
    // L7 permissions need an HTTP request to judge; a TCP proxy cannot, so it does not guess "allow".
    return { ...base, action: 'deny', reason: `${rule} has L7 permissions, which cannot be enforced on TCP` };
  }
  return { ...base, action: source.Action, reason: `${rule} says ${source.Action}` };
}

/** Whether `rule` applies to a verified caller. */
export function ruleMatches(rule: IntentionRule, caller: VerifiedIdentity): boolean {
  const id = caller.identity;
  if (id.kind !== 'service') return false;
  if (rule.peer !== undefined) {
    if (caller.peerName !== rule.peer) return false;
  } else if (caller.peerName !== undefined || rule.partition !== id.partition) {
    return false;
  }
  if (rule.namespace !== WILDCARD && rule.namespace !== id.namespace) return false;
  return rule.name === WILDCARD || rule.name === id.service;
}

function describeSource(source: IntentionSource): string {
  return source.Peer ? `peer ${source.Peer}/${source.Name}` : source.Name;
}
