import { describe, expect, it } from 'vitest';
import type { InjectSettings } from './decision.js';
import { reviewPod } from './review.js';

const settings: InjectSettings = {
  defaultInject: false,
  allowNamespaces: ['*'],
  denyNamespaces: [],
  image: 'meshpeer/meshpeer:0.1.0',
  serverAddress: 'http://server:8500',
  resources: {},
};

const pod = (annotations: Record<string, string>) => ({
  metadata: { name: 'web', annotations },
  spec: { containers: [{ name: 'web' }] },
});

describe('reviewPod', () => {
  it('answers an injection with a base64 JSON patch for the same uid', () => {
    const { response, outcome } = reviewPod(
      {
        uid: 'u1',
        kind: { kind: 'Pod' },
        operation: 'CREATE',
        namespace: 'apps',
        object: pod({ 'consul.hashicorp.com/connect-inject': 'true' }),
      },
      settings,
    );
    expect(outcome).toBe('injected');
    expect(response).toMatchObject({ uid: 'u1', allowed: true, patchType: 'JSONPatch' });
    const patch = JSON.parse(Buffer.from(response.patch ?? '', 'base64').toString('utf8')) as {
      path: string;
    }[];
    expect(patch.map((op) => op.path)).toEqual([
      '/spec/containers/-',
      '/metadata/annotations/consul.hashicorp.com~1connect-inject-status',
      '/metadata/labels',
    ]);
  });

  it('refuses nonsense with a 400 whose message names the annotation', () => {
    const { response } = reviewPod(
      {
        uid: 'u2',
        kind: { kind: 'Pod' },
        operation: 'CREATE',
        object: pod({ 'consul.hashicorp.com/connect-inject': 'on' }),
      },
      settings,
    );
    expect(response).toEqual({
      uid: 'u2',
      allowed: false,
      status: {
        code: 400,
        reason: 'BadRequest',
        message:
          'meshpeer sidecar injection: annotation consul.hashicorp.com/connect-inject must be "true" or "false", got "on"',
      },
    });
  });

  it('lets updates and other kinds through untouched', () => {
    const update = reviewPod(
      {
        uid: 'u3',
        kind: { kind: 'Pod' },
        operation: 'UPDATE',
        object: pod({ 'consul.hashicorp.com/connect-inject': 'on' }),
      },
      settings,
    );
    expect(update.response).toEqual({ uid: 'u3', allowed: true });
    const other = reviewPod(
      { uid: 'u4', kind: { kind: 'Service' }, operation: 'CREATE', object: {} },
      settings,
    );
    expect(other.response).toEqual({ uid: 'u4', allowed: true });
  });
});
