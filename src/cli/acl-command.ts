// `meshpeer acl component-token` and `meshpeer acl auth-method`: run with the bootstrap (management) token
// by the Helm chart's init containers, they give the controller or a mesh gateway a least-privilege token
// (src/kubernetes/component-tokens.ts), and set up the kubernetes auth method injected sidecars log in with
// (src/kubernetes/auth-method-setup.ts). Secrets come from the environment or files, never the command line.
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { z } from 'zod';
import { ensureKubernetesAuthMethod } from '../kubernetes/auth-method-setup.js';
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

interface AuthMethodFlags extends ClientFlags {
  name: string;
  kubernetesHost: string;
  kubernetesCaFile: string;
  reviewerJwtFile: string;
  waitSeconds: string;
}

/** The ACL calls of the set-up commands, through the CLI's HTTP client. */
function aclApi(client: MeshpeerHttpClient): AclApi {
  return {
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
}

/** Runs a set-up step, waiting (up to waitSeconds) for a server that is not answering yet. */
async function untilServerAnswers(
  ctx: CliContext,
  waitSeconds: string,
  step: () => Promise<string>,
): Promise<void> {
  const deadline = Date.now() + Number(waitSeconds) * 1000;
  for (let delayMs = 500; ; delayMs = Math.min(delayMs * 2, 5_000)) {
    try {
      ctx.out(await step());
      return;
    } catch (err) {
      if (!(err instanceof ServerUnreachableError) || Date.now() + delayMs > deadline) throw err;
      ctx.err(`waiting for the server: ${err.message}`);
      await new Promise((r) => setTimeout(r, delayMs));
    }
  }
}

function readSecretFile(file: string, flag: string): string {
  try {
    const text = readFileSync(file, 'utf8').trim();
    if (text === '') throw new CliError(`${flag} ${file}: the file is empty`);
    return text;
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(
      `${flag} ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
    );
  }
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
    const api = aclApi(client);
    const component = flags.component;
    await untilServerAnswers(ctx, flags.waitSeconds, () => ensureComponentToken(api, component, secret));
  });
  acl.addCommand(componentToken);

  const authMethod = withClientOptions(
    new Command('auth-method')
      .description(
        'Create (or bring up to date) the kubernetes auth method injected sidecars log in with, and its ' +
          'binding rule (a pod gets the service named after its service account); the client token must be ' +
          'allowed to manage ACLs',
      )
      .requiredOption(
        '--name <name>',
        'the auth method, as given to meshpeer controller --inject-acl-auth-method',
      )
      .option('--kubernetes-host <url>', 'the API server the server asks', 'https://kubernetes.default.svc')
      .option(
        '--kubernetes-ca-file <file>',
        "PEM of the API server's CA",
        '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt',
      )
      .requiredOption(
        '--reviewer-jwt-file <file>',
        'a service-account token allowed to create TokenReviews (bound to system:auth-delegator)',
      )
      .option('--wait-seconds <n>', 'how long to wait for the server to answer', '120'),
  );
  authMethod.action(async (flags: AuthMethodFlags) => {
    const setup = {
      name: flags.name,
      host: flags.kubernetesHost,
      caCert: readSecretFile(flags.kubernetesCaFile, '--kubernetes-ca-file'),
      reviewerJwt: readSecretFile(flags.reviewerJwtFile, '--reviewer-jwt-file'),
    };
    const api = aclApi(await ctx.client(flags));
    await untilServerAnswers(ctx, flags.waitSeconds, () => ensureKubernetesAuthMethod(api, setup));
  });
  acl.addCommand(authMethod);
  return acl;
}
