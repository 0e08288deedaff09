// The injector's answer to one AdmissionReview request about a Pod: allowed with a JSON patch (and
// warnings), allowed untouched, or refused with the annotation's problem. Pure; the webhook server
// (src/kubernetes/admission.ts) sends it.
import { decideInjection, type InjectSettings, type PodShape } from './decision.js';

export interface PodAdmissionRequest {
  uid: string;
  kind?: { kind?: string };
  namespace?: string;
  operation?: string;
  object?: unknown;
}

export interface MutationResponse {
  uid: string;
  allowed: boolean;
  patchType?: 'JSONPatch';
  /** Base64 of the JSON patch. */
  patch?: string;
  warnings?: string[];
  status?: { code: number; reason: string; message: string };
}

export function reviewPod(
  request: PodAdmissionRequest,
  settings: InjectSettings,
): { response: MutationResponse; outcome: string } {
  const { uid } = request;
  if (request.kind?.kind !== 'Pod' || request.operation !== 'CREATE' || !request.object) {
    return { response: { uid, allowed: true }, outcome: 'ignored' };
  }
  const pod = request.object as PodShape;
  const namespace = request.namespace ?? pod.metadata?.namespace ?? 'default';
  const decision = decideInjection(pod, namespace, settings);
  switch (decision.kind) {
    case 'reject':
      return {
        response: {
          uid,
          allowed: false,
          status: {
            code: 400,
            reason: 'BadRequest',
            message: `meshpeer sidecar injection: ${decision.message}`,
          },
        },
        outcome: 'rejected',
      };
    case 'skip':
      return {
        response: {
          uid,
          allowed: true,
          ...(decision.warnings.length ? { warnings: decision.warnings } : {}),
        },
        outcome: `skipped: ${decision.reason}`,
      };
    case 'inject':
      return {
        response: {
          uid,
          allowed: true,
          patchType: 'JSONPatch',
          patch: Buffer.from(JSON.stringify(decision.patch)).toString('base64'),
          ...(decision.warnings.length ? { warnings: decision.warnings } : {}),
        },
        outcome: 'injected',
      };
  }
}
