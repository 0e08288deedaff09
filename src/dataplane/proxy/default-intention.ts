// The sidecar's default intention action — what happens to a caller no intention matches — follows
// Consul: with ACLs on, the ACL default policy (deny unless the server says allow); with ACLs off,
// allow. A flag may override it. Whatever cannot be established fails closed: a server that refuses
// to say (HTTP 403 only happens with ACLs on) or does not report its ACL state means deny.
import type { IntentionAction } from '../../config-entries/index.js';

/** What the server said about its ACLs, from /v1/agent/self. */
export type ServerAclState =
  | { kind: 'reported'; enabled: boolean; defaultPolicy?: string }
  | { kind: 'refused'; status: number; message: string }
  | { kind: 'unreported' };

export interface DefaultIntention {
  action: IntentionAction;
  /** Why, in words for the log. */
  reason: string;
}

export function defaultIntention(
  override: IntentionAction | undefined,
  acl: ServerAclState | undefined,
): DefaultIntention {
  if (override !== undefined) return { action: override, reason: 'set by --default-intention' };
  if (acl === undefined || acl.kind === 'unreported') {
    return {
      action: 'deny',
      reason: 'the server does not report whether ACLs are enabled, so the sidecar fails closed',
    };
  }
  if (acl.kind === 'refused') {
    return {
      action: 'deny',
      reason:
        `the server refused to report its ACL configuration (HTTP ${acl.status}), so ACLs are enabled; ` +
        'failing closed with deny',
    };
  }
  if (!acl.enabled) return { action: 'allow', reason: 'ACLs are disabled on the server' };
  if (acl.defaultPolicy === 'allow' || acl.defaultPolicy === 'deny') {
    return {
      action: acl.defaultPolicy,
      reason: `ACLs are enabled on the server with default policy ${acl.defaultPolicy}`,
    };
  }
  return {
    action: 'deny',
    reason: `ACLs are enabled on the server but its default policy (${JSON.stringify(acl.defaultPolicy)}) is not allow or deny; failing closed`,
  };
}
