// The Secret that carries a peering token between clusters: written by the acceptor's controller,
// copied by the user, read by the dialer's. The token sits base64-encoded under the spec's key.
import { createHash } from 'node:crypto';
import type { V1Secret } from '@kubernetes/client-node';
import { PEERING_TOKEN_LABEL, type SecretRef } from './resources.js';
import { Reason, ReconcileError } from './status.js';

/** The Secret holding `token` under `ref.key`, keeping the other keys, labels and annotations of `existing`. */
export function tokenSecret(namespace: string, ref: SecretRef, token: string, existing?: V1Secret): V1Secret {
  const metadata: V1Secret['metadata'] = {
    ...(existing?.metadata ?? {}),
    name: ref.name,
    namespace,
    labels: { ...(existing?.metadata?.labels ?? {}), [PEERING_TOKEN_LABEL]: 'true' },
  };
  delete metadata.managedFields;
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata,
    type: existing?.type ?? 'Opaque',
    data: { ...(existing?.data ?? {}), [ref.key]: Buffer.from(token, 'utf8').toString('base64') },
  };
}

/** Whether the controller made this Secret (and may therefore delete it). */
export function isTokenSecret(secret: V1Secret | undefined): boolean {
  return secret?.metadata?.labels?.[PEERING_TOKEN_LABEL] === 'true';
}

/** The token in a copied Secret; throws InvalidSecret naming what is wrong. */
export function readToken(secret: V1Secret | undefined, namespace: string, ref: SecretRef): string {
  const where = `Secret ${namespace}/${ref.name}`;
  if (!secret) {
    throw new ReconcileError(
      Reason.InvalidSecret,
      `${where} does not exist: copy the peering token Secret from the accepting cluster into this namespace`,
    );
  }
  const encoded = secret.data?.[ref.key];
  if (encoded === undefined) {
    const keys = Object.keys(secret.data ?? {});
    throw new ReconcileError(
      Reason.InvalidSecret,
      `${where} has no key "${ref.key}"${keys.length > 0 ? ` (it has ${keys.map((k) => `"${k}"`).join(', ')})` : ' (it is empty)'}`,
    );
  }
  const token = Buffer.from(encoded, 'base64').toString('utf8').trim();
  if (token === '') {
    throw new ReconcileError(
      Reason.InvalidSecret,
      `${where} holds an empty peering token under key "${ref.key}"`,
    );
  }
  return token;
}

export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
