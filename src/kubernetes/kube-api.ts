// The controller's calls to the Kubernetes API: custom resources (read, finalizers, status), Secrets
// and Events. Reconcilers see only the `KubeApi` interface; `ClientNodeKubeApi` implements it with
// @kubernetes/client-node and turns API failures into KubeError.
import {
  ApiException,
  CoreV1Api,
  type CoreV1Event,
  CustomObjectsApi,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Secret,
} from '@kubernetes/client-node';
import { describeZodError } from '../shared/zod-message.js';
import {
  type CustomResource,
  customResourceSchema,
  GROUP,
  type ObjectMeta,
  type ResourceKind,
  VERSION,
} from './resources.js';

export class KubeError extends Error {
  constructor(
    message: string,
    /** The HTTP status, or undefined when the API server could not be reached. */
    readonly status: number | undefined,
  ) {
    super(message);
    this.name = 'KubeError';
  }
}

export interface ResourceList {
  items: CustomResource[];
  resourceVersion: string;
}

export interface KubeApi {
  getResource(kind: ResourceKind, namespace: string, name: string): Promise<CustomResource | undefined>;
  listResources(kind: ResourceKind, namespace?: string): Promise<ResourceList>;
  /** Sets metadata.finalizers, failing with a 409 KubeError when the object changed since it was read. */
  setFinalizers(kind: ResourceKind, meta: ObjectMeta, finalizers: string[]): Promise<void>;
  /** Merges `status` into the status subresource. */
  patchStatus(
    kind: ResourceKind,
    namespace: string,
    name: string,
    status: Record<string, unknown>,
  ): Promise<void>;
  getSecret(namespace: string, name: string): Promise<V1Secret | undefined>;
  createSecret(namespace: string, secret: V1Secret): Promise<V1Secret>;
  replaceSecret(namespace: string, secret: V1Secret): Promise<V1Secret>;
  deleteSecret(namespace: string, name: string): Promise<void>;
  createEvent(namespace: string, event: CoreV1Event): Promise<void>;
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export class ClientNodeKubeApi implements KubeApi {
  private readonly custom: CustomObjectsApi;
  private readonly core: CoreV1Api;

  constructor(kubeConfig: KubeConfig) {
    this.custom = kubeConfig.makeApiClient(CustomObjectsApi);
    this.core = kubeConfig.makeApiClient(CoreV1Api);
  }

  async getResource(
    kind: ResourceKind,
    namespace: string,
    name: string,
  ): Promise<CustomResource | undefined> {
    const body: unknown = await orUndefinedOn404(
      this.custom.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        plural: kind.plural,
        namespace,
        name,
      }),
      `get ${kind.kind} ${namespace}/${name}`,
    );
    return body === undefined ? undefined : parseResource(body, kind);
  }

  async listResources(kind: ResourceKind, namespace?: string): Promise<ResourceList> {
    const what = `list ${kind.plural}${namespace ? ` in namespace ${namespace}` : ''}`;
    const body: unknown = await wrap(
      namespace
        ? this.custom.listNamespacedCustomObject({
            group: GROUP,
            version: VERSION,
            plural: kind.plural,
            namespace,
          })
        : this.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: kind.plural }),
      what,
    );
    const list = (body ?? {}) as { items?: unknown[]; metadata?: { resourceVersion?: string } };
    return {
      items: (list.items ?? []).map((item) => parseResource(item, kind)),
      resourceVersion: list.metadata?.resourceVersion ?? '',
    };
  }

  async setFinalizers(kind: ResourceKind, meta: ObjectMeta, finalizers: string[]): Promise<void> {
    const namespace = meta.namespace ?? '';
    await wrap(
      this.custom.patchNamespacedCustomObject(
        {
          group: GROUP,
          version: VERSION,
          plural: kind.plural,
          namespace,
          name: meta.name,
          body: { metadata: { finalizers, resourceVersion: meta.resourceVersion } },
        },
        mergePatch,
      ),
      `update the finalizers of ${kind.kind} ${namespace}/${meta.name}`,
    );
  }

  async patchStatus(
    kind: ResourceKind,
    namespace: string,
    name: string,
    status: Record<string, unknown>,
  ): Promise<void> {
    await wrap(
      this.custom.patchNamespacedCustomObjectStatus(
        { group: GROUP, version: VERSION, plural: kind.plural, namespace, name, body: { status } },
        mergePatch,
      ),
      `update the status of ${kind.kind} ${namespace}/${name}`,
    );
  }

  getSecret(namespace: string, name: string): Promise<V1Secret | undefined> {
    return orUndefinedOn404(
      this.core.readNamespacedSecret({ namespace, name }),
      `get Secret ${namespace}/${name}`,
    );
  }

  createSecret(namespace: string, secret: V1Secret): Promise<V1Secret> {
    return wrap(
      this.core.createNamespacedSecret({ namespace, body: secret }),
      `create Secret ${namespace}/${secret.metadata?.name}`,
    );
  }

  replaceSecret(namespace: string, secret: V1Secret): Promise<V1Secret> {
    const name = secret.metadata?.name ?? '';
    return wrap(
      this.core.replaceNamespacedSecret({ namespace, name, body: secret }),
      `update Secret ${namespace}/${name}`,
    );
  }

  async deleteSecret(namespace: string, name: string): Promise<void> {
    await orUndefinedOn404(
      this.core.deleteNamespacedSecret({ namespace, name }),
      `delete Secret ${namespace}/${name}`,
    );
  }

  async createEvent(namespace: string, event: CoreV1Event): Promise<void> {
    await wrap(
      this.core.createNamespacedEvent({ namespace, body: event }),
      `create an Event in ${namespace}`,
    );
  }
}

function parseResource(body: unknown, kind: ResourceKind): CustomResource {
  const result = customResourceSchema.safeParse(body);
  if (!result.success) {
    throw new KubeError(
      `the API server returned a malformed ${kind.kind}: ${describeZodError(result.error)}`,
      200,
    );
  }
  return result.data;
}

async function orUndefinedOn404<T>(call: Promise<T>, what: string): Promise<T | undefined> {
  try {
    return await call;
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) return undefined;
    throw toKubeError(err, what);
  }
}

async function wrap<T>(call: Promise<T>, what: string): Promise<T> {
  try {
    return await call;
  } catch (err) {
    throw toKubeError(err, what);
  }
}

/** A sentence from an API failure: the Status message the API server sent, or the transport error. */
export function toKubeError(err: unknown, what: string): KubeError {
  if (err instanceof KubeError) return err;
  if (err instanceof ApiException) {
    const code: number = err.code;
    return new KubeError(`cannot ${what}: ${statusMessage(err.body) ?? `HTTP ${code}`}`, code);
  }
  // A watch that got an HTTP error: client-node's Watch sets statusCode on a plain Error.
  const statusCode: unknown =
    err && typeof err === 'object' && 'statusCode' in err ? err.statusCode : undefined;
  if (typeof statusCode === 'number' && err instanceof Error) {
    return new KubeError(`cannot ${what}: HTTP ${statusCode} ${err.message}`, statusCode);
  }
  const reason = err instanceof Error ? (causeCode(err) ?? err.message) : String(err);
  return new KubeError(`cannot ${what}: the Kubernetes API server is unreachable (${reason})`, undefined);
}

function statusMessage(body: unknown): string | undefined {
  let parsed = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      return body.trim() || undefined;
    }
  }
  if (parsed && typeof parsed === 'object' && 'message' in parsed && typeof parsed.message === 'string') {
    return parsed.message;
  }
  return undefined;
}

function causeCode(err: Error): string | undefined {
  const cause: unknown = (err as Error & { cause?: unknown }).cause;
  if (cause && typeof cause === 'object' && 'code' in cause && typeof cause.code === 'string')
    return cause.code;
  return undefined;
}
