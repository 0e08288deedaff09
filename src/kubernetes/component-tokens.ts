// Least-privilege ACL tokens for what the Helm chart runs beside the server (what consul-k8s's
// server-acl-init makes): one policy per component, and a token with a SecretID the chart generated,
// created with the bootstrap token by the component's init container (`meshpeer acl component-token`).
// Idempotent: a second run finds the policy and the token and changes nothing (or only the rules).

/** The rules each component needs, from the route table in src/acl/enforcement.ts. */
export const COMPONENT_POLICIES = {
  /** Peerings (token, establish, read, delete) and every config-entry kind the CRDs map to. */
  controller: [
    'peering = "write"',
    'mesh = "write"',
    // service-intentions and service-resolver entries need service:write on the entry's name.
    'service_prefix "" { policy = "write" }',
  ].join('\n'),
  /**
   * Registers itself (service:write on its own name, and mesh:write: every gateway becomes an address
   * peers send traffic to), reads the node, what it routes to, the peerings and the mesh config, and
   * the server's datacenter from /v1/agent/self (agent:read).
   */
  'mesh-gateway': [
    'mesh = "write"',
    'peering = "read"',
    'service "mesh-gateway" { policy = "write" }',
    'service_prefix "" { policy = "read" }',
    'node_prefix "" { policy = "read" }',
    'agent_prefix "" { policy = "read" }',
  ].join('\n'),
} as const;

export type Component = keyof typeof COMPONENT_POLICIES;

export function isComponent(name: string): name is Component {
  return Object.hasOwn(COMPONENT_POLICIES, name);
}

/** The calls made to the server, with the bootstrap token unless `as` gives another secret. */
export interface AclApi {
  get(path: string, as?: string): Promise<{ status: number; body: unknown }>;
  put(path: string, body: unknown): Promise<unknown>;
  delete(path: string): Promise<void>;
}

interface PolicyView {
  ID: string;
  Name: string;
  Rules?: string;
}

interface TokenView {
  AccessorID: string;
  Policies?: { Name: string }[];
}

/** Makes sure policy `meshpeer-<component>` and a token with `secretId` holding it exist; says what it did. */
export async function ensureComponentToken(
  api: AclApi,
  component: Component,
  secretId: string,
): Promise<string> {
  const name = `meshpeer-${component}`;
  const rules = COMPONENT_POLICIES[component];
  const done: string[] = [];

  const list = await api.get('/v1/acl/policies');
  const policy = (list.body as PolicyView[]).find((p) => p.Name === name);
  const description = `meshpeer ${component} (created by meshpeer acl component-token)`;
  if (!policy) {
    await api.put('/v1/acl/policy', { Name: name, Description: description, Rules: rules });
    done.push(`created policy ${name}`);
  } else if (policy.Rules !== rules) {
    await api.put(`/v1/acl/policy/${policy.ID}`, { Name: name, Description: description, Rules: rules });
    done.push(`updated the rules of policy ${name}`);
  }

  const self = await api.get('/v1/acl/token/self', secretId);
  const token = self.status === 200 ? (self.body as TokenView) : undefined;
  const holdsPolicy = token?.Policies?.some((p) => p.Name === name) === true;
  if (token && !holdsPolicy) {
    // Not one this command made: replace it by one that holds the component's policy only.
    await api.delete(`/v1/acl/token/${token.AccessorID}`);
    done.push('deleted a token with that secret that lacked the policy');
  }
  if (!holdsPolicy) {
    await api.put('/v1/acl/token', {
      SecretID: secretId,
      Description: description,
      Policies: [{ Name: name }],
    });
    done.push(`created the ${component} token`);
  }
  return done.length > 0
    ? done.join('; ')
    : `the ${component} token and policy ${name} were already in place`;
}
