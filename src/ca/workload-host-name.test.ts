import { describe, expect, it } from 'vitest';
import { workloadHostName } from './workload-host-name.js';

describe('workloadHostName', () => {
  it('restates service, namespace and trust domain as one lowercase DNS name', () => {
    expect(workloadHostName({ service: 'Backend', trustDomain: 'ABC-123.consul' })).toBe(
      'backend.svc.default.abc-123.consul',
    );
    expect(workloadHostName({ service: 'api', namespace: 'team-a', trustDomain: 'x.consul' })).toBe(
      'api.svc.team-a.x.consul',
    );
  });

  it('gives no name when a part cannot be a DNS label', () => {
    expect(workloadHostName({ service: 'has.dot', trustDomain: 'x.consul' })).toBeUndefined();
    expect(workloadHostName({ service: 'a'.repeat(64), trustDomain: 'x.consul' })).toBeUndefined();
    expect(workloadHostName({ service: 'web', trustDomain: 'bad..consul' })).toBeUndefined();
    expect(
      workloadHostName({ service: 'web', namespace: 'sp ace', trustDomain: 'x.consul' }),
    ).toBeUndefined();
  });
});
