// The `kubernetes` ACL auth method injected sidecars log in with, and its binding rule: created (or brought
// up to date) by the Helm chart's init container with the bootstrap token, as consul-k8s's server-acl-init
// does. A pod logging in with its service-account token gets a token for the service named after that
// account; the reviewer token lets the server ask the API server's TokenReview who the pod is.
import type { AclApi } from './component-tokens.js';

export interface KubernetesAuthMethodSetup {
  /** The auth method's name, e.g. consul-k8s-auth-method. */
  name: string;
  /** The API server the server asks, e.g. https://kubernetes.default.svc. */
  host: string;
  /** PEM of the CA that signed the API server's certificate. */
  caCert: string;
  /** A service-account token allowed to create TokenReviews (system:auth-delegator). */
  reviewerJwt: string;
}

/** The rule: a login as service account X gets service identity X (the default account gets nothing). */
export const SERVICE_BINDING = {
  BindType: 'service',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: Consul's interpolation in BindName, not JavaScript's
  BindName: '${serviceaccount.name}',
  Selector: 'serviceaccount.name!=default',
} as const;

interface RuleView {
  ID: string;
  BindType?: string;
  BindName?: string;
  Selector?: string;
}

/** Writes the auth method (its config may have changed) and adds the binding rule if it is missing. */
export async function ensureKubernetesAuthMethod(
  api: AclApi,
  setup: KubernetesAuthMethodSetup,
): Promise<string> {
  const done: string[] = [];
  const path = `/v1/acl/auth-method/${encodeURIComponent(setup.name)}`;
  const existing = await api.get(path);
  const config = { Host: setup.host, CACert: setup.caCert, ServiceAccountJWT: setup.reviewerJwt };
  const current =
    existing.status === 200 ? (existing.body as { Config?: Record<string, unknown> }) : undefined;
  const same =
    current !== undefined &&
    current.Config?.Host === config.Host &&
    current.Config?.CACert === config.CACert &&
    current.Config?.ServiceAccountJWT === config.ServiceAccountJWT;
  if (!same) {
    await api.put(current === undefined ? '/v1/acl/auth-method' : path, {
      Name: setup.name,
      Type: 'kubernetes',
      Description: 'Kubernetes service accounts of injected sidecars (created by meshpeer acl auth-method)',
      Config: config,
    });
    done.push(
      current === undefined ? `created auth method ${setup.name}` : `updated auth method ${setup.name}`,
    );
  }
  const rules = await api.get(`/v1/acl/binding-rules?authmethod=${encodeURIComponent(setup.name)}`);
  const list = rules.status === 200 ? ((rules.body as RuleView[] | null) ?? []) : [];
  const present = list.some(
    (r) =>
      r.BindType === SERVICE_BINDING.BindType &&
      r.BindName === SERVICE_BINDING.BindName &&
      (r.Selector ?? '') === SERVICE_BINDING.Selector,
  );
  if (!present) {
    await api.put('/v1/acl/binding-rule', {
      AuthMethod: setup.name,
      Description: 'a pod gets the service named after its service account',
      ...SERVICE_BINDING,
    });
    done.push('created its binding rule');
  }
  return done.length > 0
    ? done.join('; ')
    : `auth method ${setup.name} and its binding rule were already in place`;
}
