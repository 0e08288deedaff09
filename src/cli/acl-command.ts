// `meshpeer acl component-token`: run with the bootstrap (management) token by the Helm chart's init
// containers, it gives the controller or a mesh gateway a least-privilege token (src/kubernetes/
// component-tokens.ts). The component's secret comes from MESHPEER_COMPONENT_TOKEN, never the command line.
import { Command } from 'commander';
import { z } from 'zod';
import {
  type AclApi,
  COMPONENT_POLICIES,
  ensureComponentToken,
  isComponent,
} from '../kubernetes/component-tokens.js';
import type { CliContext, ClientFlags } from './context.js';
import { withClientOptions } from './context.js';
import { HttpStatusError, MeshpeerHttpClient, ServerUnreachableError } from './http-client.js';
import { CliError } from './io.js';

interface ComponentTokenFlags extends ClientFlags {
  component: string;
  waitSeconds: string;
}

export function aclCommand(ctx: CliContext): Command {
  const acl = new Command('acl').description('ACL set-up for the Kubernetes components');
  const componentToken = withClientOptions(
    new Command('component-token')
      .description(
        'Create (or confirm) the least-privilege policy and token of a component, with the token whose ' +
          'secret is in MESHPEER_COMPONENT_TOKEN; the client token (--token, MESHPEER_HTTP_TOKEN) must be ' +
          'allowed to manage ACLs',
      )
      .requiredOption('--component <name>', `one of: ${Object.keys(COMPONENT_POLICIES).join(', ')}`)
      .option('--wait-seconds <n>', 'how long to wait for the server to answer', '120'),
  );
  componentToken.action(async (flags: ComponentTokenFlags) => {
    if (!isComponent(flags.component)) {
      throw new CliError(`--component must be one of ${Object.keys(COMPONENT_POLICIES).join(', ')}`);
    }
    const secret = process.env.MESHPEER_COMPONENT_TOKEN?.trim();
    if (!secret) throw new CliError('MESHPEER_COMPONENT_TOKEN must hold the secret of the token to create');
    const client = await ctx.client(flags);
    const api: AclApi = {
      async get(path, as) {
        const caller =
          as === undefined ? client : new MeshpeerHttpClient({ address: client.address, token: as });
        try {
          return { status: 200, body: await caller.json('GET', path, z.unknown()) };
        } catch (err) {
          if (err instanceof HttpStatusError) return { status: err.status, body: undefined };
          throw err;
        }
      },
      put: (path, body) => client.json('PUT', path, z.unknown(), { body }),
      delete: async (path) => {
        await client.send('DELETE', path);
      },
    };
    const deadline = Date.now() + Number(flags.waitSeconds) * 1000;
    for (let delayMs = 500; ; delayMs = Math.min(delayMs * 2, 5_000)) {
      try {
        ctx.out(await ensureComponentToken(api, flags.component, secret));
        return;
      } catch (err) {
        if (!(err instanceof ServerUnreachableError) || Date.now() + delayMs > deadline) throw err;
        ctx.err(`waiting for the server: ${err.message}`);
        await new Promise((r) => setTimeout(r, delayMs));
      }
    }
  });
  acl.addCommand(componentToken);
  return acl;
}
