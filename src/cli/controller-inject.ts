// `meshpeer controller --inject`: the injector's settings from the command line, checked up front so a
// bad flag stops the controller with a usage error instead of failing every pod's admission.
import { readFileSync } from 'node:fs';
import { quantityProblem } from '../kubernetes/inject/annotations.js';
import type { InjectSettings } from '../kubernetes/inject/decision.js';
import { type Resources, SIDECAR_ENGINES, type SidecarEngine } from '../kubernetes/inject/sidecar.js';
import type { ControllerFlags } from './controller-flags.js';
import { UsageError } from './io.js';

const list = (text: string): string[] =>
  text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');

export function injectSettings(flags: ControllerFlags, serverAddress: string): InjectSettings {
  if (!flags.injectImage) throw new UsageError('--inject needs --inject-image (the sidecar image)');
  const resources: Resources = {};
  const quantities = [
    ['requests', 'cpu', flags.sidecarCpuRequest, '--sidecar-cpu-request'],
    ['limits', 'cpu', flags.sidecarCpuLimit, '--sidecar-cpu-limit'],
    ['requests', 'memory', flags.sidecarMemoryRequest, '--sidecar-memory-request'],
    ['limits', 'memory', flags.sidecarMemoryLimit, '--sidecar-memory-limit'],
  ] as const;
  for (const [group, resource, value, flag] of quantities) {
    if (value === undefined || value === '') continue;
    const bad = quantityProblem(flag, value);
    if (bad) throw new UsageError(bad);
    resources[group] = { ...resources[group], [resource]: value };
  }
  const engine = sidecarEngine(flags.injectSidecarEngine);
  const injectServer = flags.injectServer ?? serverAddress;
  return {
    defaultInject: Boolean(flags.injectDefault),
    allowNamespaces: list(flags.injectAllowNamespaces),
    denyNamespaces: list(flags.injectDenyNamespaces),
    image: flags.injectImage,
    ...(flags.injectImagePullPolicy ? { imagePullPolicy: flags.injectImagePullPolicy } : {}),
    serverAddress: /^https?:\/\//.test(injectServer) ? injectServer : `http://${injectServer}`,
    resources,
    ...(flags.injectAclAuthMethod ? { aclAuthMethod: flags.injectAclAuthMethod } : {}),
    ...(flags.injectCaFile ? { serverCaPem: readCaFile(flags.injectCaFile) } : {}),
    ...(engine === 'node' ? {} : { engine }),
  };
}

function sidecarEngine(value: string | undefined): SidecarEngine {
  if (value === undefined) return 'node';
  const engine = SIDECAR_ENGINES.find((e) => e === value);
  if (engine === undefined)
    throw new UsageError(
      `--inject-sidecar-engine: "${value}" is not an engine; use ${SIDECAR_ENGINES.slice(0, -1).join(', ')} ` +
        `or ${SIDECAR_ENGINES.at(-1)}`,
    );
  return engine;
}

function readCaFile(file: string): string {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new UsageError(
      `--inject-ca-file ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
    );
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----'))
    throw new UsageError(`--inject-ca-file ${file}: holds no PEM certificate`);
  return `${pem}\n`;
}
