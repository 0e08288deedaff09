// PUT /v1/agent/check/register: a check on the agent's node (a node check, or one of its services'
// when ServiceID is given). Decoded as the agent service's checks are (src/catalog/requests.ts): keys
// in any case, what Consul accepts is accepted, a TTL check starts critical, a check meshpeer does not
// run starts as its given Status or passing.

import { limitedId } from '../config-entries/limits.js';
import { agentCheckSchema, type CheckDefinition, parseBody, ttlOf } from './requests.js';

const agentCheckRegistrationSchema = agentCheckSchema.extend({
  ServiceID: limitedId.optional(),
  Name: limitedId,
});

export function decodeAgentCheckRegistration(raw: unknown): CheckDefinition {
  const c = parseBody(agentCheckRegistrationSchema, raw, 'the check definition');
  const id = c.CheckID ?? c.ID ?? '';
  return {
    CheckID: id !== '' ? id : c.Name,
    Name: c.Name,
    Notes: c.Notes ?? '',
    Status: c.Status ?? (c.TTL !== undefined ? 'critical' : 'passing'),
    ServiceID: c.ServiceID ?? '',
    Type: c.TTL !== undefined ? 'ttl' : c.HTTP !== undefined ? 'http' : c.TCP !== undefined ? 'tcp' : '',
    ...ttlOf(c.TTL),
  };
}
