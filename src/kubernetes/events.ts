// Kubernetes Events about the controller's resources (`kubectl describe` and `kubectl get events`
// show them). Recording is best effort: a failure to record is logged, never fails a reconcile.
import type { CoreV1Event } from '@kubernetes/client-node';
import type { Logger } from '../shared/logger.js';
import type { KubeApi } from './kube-api.js';
import { API_VERSION, type CustomResource, type ResourceKind } from './resources.js';

export const EVENT_SOURCE = 'meshpeer-controller';

export type EventType = 'Normal' | 'Warning';

export interface EventRecorder {
  record(
    kind: ResourceKind,
    obj: CustomResource,
    type: EventType,
    reason: string,
    message: string,
  ): Promise<void>;
}

export class KubeEventRecorder implements EventRecorder {
  constructor(
    private readonly kube: KubeApi,
    private readonly logger: Logger,
    private readonly host = '',
  ) {}

  async record(
    kind: ResourceKind,
    obj: CustomResource,
    type: EventType,
    reason: string,
    message: string,
  ): Promise<void> {
    const namespace = obj.metadata.namespace ?? 'default';
    const now = new Date();
    const event: CoreV1Event = {
      metadata: { generateName: `${obj.metadata.name}.`, namespace },
      involvedObject: {
        apiVersion: API_VERSION,
        kind: kind.kind,
        name: obj.metadata.name,
        namespace,
        ...(obj.metadata.uid ? { uid: obj.metadata.uid } : {}),
        ...(obj.metadata.resourceVersion ? { resourceVersion: obj.metadata.resourceVersion } : {}),
      },
      type,
      reason,
      // The API server limits an event's message to 1 KiB.
      message: message.length > 1024 ? `${message.slice(0, 1021)}...` : message,
      source: { component: EVENT_SOURCE, ...(this.host ? { host: this.host } : {}) },
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
      reportingComponent: EVENT_SOURCE,
      reportingInstance: this.host || EVENT_SOURCE,
    };
    try {
      await this.kube.createEvent(namespace, event);
    } catch (err) {
      this.logger.warn(
        {
          err: err instanceof Error ? err.message : String(err),
          reason,
          object: `${namespace}/${obj.metadata.name}`,
        },
        'could not record an event',
      );
    }
  }
}
