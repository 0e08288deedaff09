// PUT /v1/acl/bootstrap and PUT /v1/acl/token/:accessor/clone (src/acl/bootstrap.ts); with ACLs on only.
import type { FastifyInstance } from 'fastify';
import { bootstrap, cloneToken, decodeCloneRequest } from '../../acl/bootstrap.js';
import { identityOf } from '../../acl/enforcement.js';
import type { ApiDeps } from '../deps.js';
import { route, withBody } from '../route-table.js';

export function aclBootstrapRoutes(app: FastifyInstance, d: ApiDeps): void {
  const acl = d.acl;
  if (acl === undefined) return;

  route(app, '/v1/acl/bootstrap', { PUT: async () => bootstrap(d.store, acl) });

  route(app, '/v1/acl/token/:accessor/clone', {
    PUT: withBody(decodeCloneRequest, async (req, _reply, body) => {
      const { accessor } = req.params as { accessor: string };
      // The initial management token lives in the configuration, not the store: clone it from the
      // requester's own identity when that is the token asked for.
      const self = identityOf(acl, req).token;
      const source = self !== undefined && self.AccessorID === accessor ? self : acl.readToken(accessor);
      return cloneToken(acl, source, body.Description);
    }),
  });
}
