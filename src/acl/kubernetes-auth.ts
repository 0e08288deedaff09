// The `kubernetes` auth method: its Config (Host, CACert, ServiceAccountJWT), and how a login's bearer
// token (a pod's service-account JWT) is checked: the Kubernetes API server's TokenReview, asked with the
// method's ServiceAccountJWT as the reviewer's credential. The review sits behind TokenReviewer; the
// real one is a plain HTTPS POST (no Kubernetes client library).
import { request } from 'node:https';
import { invalid, permissionDenied, unavailable } from '../shared/errors.js';
import type { LoginFields } from './binding-rules.js';

export interface KubernetesAuthConfig {
  /** https://host:port of the API server. */
  Host: string;
  /** PEM; when empty, the system's CAs are trusted. */
  CACert: string;
  ServiceAccountJWT: string;
}

/** The fields a kubernetes login provides to selectors and BindName. */
export const KUBERNETES_FIELDS = [
  'serviceaccount.namespace',
  'serviceaccount.name',
  'serviceaccount.uid',
] as const;

export interface TokenReviewStatus {
  authenticated: boolean;
  /** `system:serviceaccount:<namespace>:<name>` for a service account. */
  username?: string;
  uid?: string;
  /** The API server's reason when not authenticated. */
  error?: string;
}

/** Asks an API server whether a bearer token is valid (a TokenReview). */
export interface TokenReviewer {
  review(config: KubernetesAuthConfig, token: string): Promise<TokenReviewStatus>;
}

const SERVICE_ACCOUNT_USER = /^system:serviceaccount:([^:]+):([^:]+)$/;

function configString(config: Record<string, unknown>, field: string): string {
  const value = config[field];
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw invalid(`Invalid Auth Method: Config.${field}: must be a string`);
  return value;
}

/** Checks a kubernetes method's Config; Host may be host, host:port or a URL (https is assumed). */
export function decodeKubernetesConfig(value: unknown): KubernetesAuthConfig {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid('Invalid Auth Method: Config: must be an object with Host, CACert and ServiceAccountJWT');
  }
  const config = value as Record<string, unknown>;
  const host = configString(config, 'Host');
  if (host === '') throw invalid('Invalid Auth Method: Config.Host: the Kubernetes API server is required');
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(host) ? host : `https://${host}`);
  } catch {
    throw invalid(`Invalid Auth Method: Config.Host: ${JSON.stringify(host)} is not a host or URL`);
  }
  if (url.protocol !== 'https:') {
    throw invalid(`Invalid Auth Method: Config.Host: ${JSON.stringify(host)} must be an https URL`);
  }
  const caCert = configString(config, 'CACert');
  if (caCert !== '' && !caCert.includes('-----BEGIN CERTIFICATE-----')) {
    throw invalid('Invalid Auth Method: Config.CACert: must be PEM (-----BEGIN CERTIFICATE-----)');
  }
  const jwt = configString(config, 'ServiceAccountJWT');
  if (jwt === '') {
    throw invalid(
      'Invalid Auth Method: Config.ServiceAccountJWT: a reviewer token (a service account allowed TokenReviews, e.g. bound to system:auth-delegator) is required',
    );
  }
  return { Host: url.toString().replace(/\/+$/, ''), CACert: caCert, ServiceAccountJWT: jwt };
}

/**
 * The login fields of a pod's JWT, once the API server vouched for it; a token it rejects, or one that
 * is not a service account's, is refused.
 */
export async function kubernetesLogin(
  reviewer: TokenReviewer,
  method: string,
  config: KubernetesAuthConfig,
  bearerToken: string,
): Promise<LoginFields> {
  if (bearerToken === '') throw invalid('Invalid Login request: BearerToken is required');
  const status = await reviewer.review(config, bearerToken);
  if (!status.authenticated) {
    throw permissionDenied(
      `Permission denied: auth method ${JSON.stringify(method)}: the Kubernetes API server rejected the bearer token` +
        (status.error ? ` (${status.error})` : ''),
    );
  }
  const match = SERVICE_ACCOUNT_USER.exec(status.username ?? '');
  if (match === null) {
    throw permissionDenied(
      `Permission denied: auth method ${JSON.stringify(method)}: the bearer token belongs to ${JSON.stringify(status.username ?? '')}, not to a service account`,
    );
  }
  return {
    'serviceaccount.namespace': match[1] ?? '',
    'serviceaccount.name': match[2] ?? '',
    'serviceaccount.uid': status.uid ?? '',
  };
}

const REVIEW_TIMEOUT_MS = 10_000;
const MAX_ANSWER_BYTES = 1 << 20;

/** The real reviewer: POST /apis/authentication.k8s.io/v1/tokenreviews on the method's Host. */
export const httpsTokenReviewer: TokenReviewer = {
  review(config, token) {
    const url = new URL('/apis/authentication.k8s.io/v1/tokenreviews', `${config.Host}/`);
    const body = JSON.stringify({
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      spec: { token },
    });
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method: 'POST',
          headers: {
            Authorization: `Bearer ${config.ServiceAccountJWT}`,
            'Content-Type': 'application/json',
            Accept: 'application/json',
            'Content-Length': Buffer.byteLength(body),
          },
          ...(config.CACert === '' ? {} : { ca: config.CACert }),
          timeout: REVIEW_TIMEOUT_MS,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_ANSWER_BYTES) req.destroy(new Error('the answer is too large'));
            else chunks.push(chunk);
          });
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            try {
              resolve(reviewAnswer(res.statusCode ?? 0, text));
            } catch (err) {
              reject(err);
            }
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${REVIEW_TIMEOUT_MS} ms`)));
      req.on('error', (err) => reject(unavailable(`TokenReview on ${config.Host} failed: ${err.message}`)));
      req.end(body);
    });
  },
};

function reviewAnswer(statusCode: number, text: string): TokenReviewStatus {
  let answer: {
    status?: TokenReviewStatus & { user?: { username?: string; uid?: string } };
    message?: string;
  };
  try {
    answer = JSON.parse(text);
  } catch {
    throw unavailable(`TokenReview: HTTP ${statusCode}, and the answer is not JSON`);
  }
  if (statusCode === 401 || statusCode === 403) {
    // The reviewer's own token is refused: a configuration problem, not the pod's.
    throw permissionDenied(
      `Permission denied: the auth method's ServiceAccountJWT may not create TokenReviews (HTTP ${statusCode}: ${answer.message ?? ''}); bind its service account to system:auth-delegator`,
    );
  }
  if (statusCode !== 200 && statusCode !== 201) {
    throw unavailable(`TokenReview: HTTP ${statusCode}: ${answer.message ?? text.slice(0, 200)}`);
  }
  const status = answer.status ?? { authenticated: false };
  return {
    authenticated: status.authenticated === true,
    ...(status.user?.username === undefined ? {} : { username: status.user.username }),
    ...(status.user?.uid === undefined ? {} : { uid: status.user.uid }),
    ...(status.error === undefined ? {} : { error: status.error }),
  };
}
