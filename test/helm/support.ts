// Test support for the Helm chart: the real helm binary (test/support/helm-cli.ts), rendering with
// values files, and lookups into what was rendered. Call useHelm() in a test file.
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { type HelmCli, type HelmResult, helmCli } from '../support/helm-cli.js';

export const repoRoot = resolve(import.meta.dirname, '..', '..');
export const cli = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
export const chartDir = join(repoRoot, 'deploy', 'helm', 'meshpeer');
export const packageVersion = (
  JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }
).version;
export const defaultImage = `meshpeer/meshpeer:${packageVersion}`;

// The values from the seed document's "Helm specifications" example, plus connectInject, which
// consul-k8s turns on by default and cluster peering needs.
export const seedValues = {
  global: {
    name: 'consul',
    image: 'hashicorp/consul:1.16.0',
    peering: { enabled: true },
    tls: { enabled: true },
  },
  connectInject: { enabled: true },
  meshGateway: { enabled: true },
};

export type Values = Record<string, unknown>;

export interface Container {
  name: string;
  image: string;
  imagePullPolicy?: string;
  command?: string[];
  args?: string[];
  ports?: { name: string; containerPort: number; hostPort?: number }[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  env?: EnvVar[];
}

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name: string; key: string };
    fieldRef?: { fieldPath: string };
  };
}

export interface Volume {
  name: string;
  secret?: { secretName: string; items?: { key: string; path: string }[] };
}

export interface PodTemplate {
  metadata: { labels: Record<string, string> };
  spec: {
    containers: Container[];
    initContainers?: Container[];
    serviceAccountName?: string;
    automountServiceAccountToken?: boolean;
    volumes?: Volume[];
    securityContext?: Record<string, unknown>;
  };
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: {
    replicas?: number;
    serviceName?: string;
    selector?: { matchLabels?: Record<string, string> } & Record<string, string>;
    template?: PodTemplate;
    volumeClaimTemplates?: {
      metadata: { name: string };
      spec: { storageClassName?: string; resources: { requests: { storage: string } } };
    }[];
    type?: string;
    clusterIP?: string;
    ports?: { name: string; port: number; targetPort: number | string; nodePort?: number }[];
  };
  rules?: { apiGroups: string[]; resources: string[]; verbs: string[] }[];
  roleRef?: { kind: string; name: string };
  subjects?: { kind: string; name: string; namespace: string }[];
  type?: string;
  data?: Record<string, string>;
}

export type { HelmResult } from '../support/helm-cli.js';

let helm: HelmCli | undefined;
let scratch = '';

export function runHelm(args: string[]): HelmResult {
  if (helm === undefined) throw new Error('useHelm() first');
  return helm.run(args, { timeoutMs: 60_000 });
}

let valuesFileCount = 0;
export function valuesFile(values: Values): string {
  const file = join(scratch, `values-${valuesFileCount++}.json`);
  writeFileSync(file, JSON.stringify(values));
  return file;
}

/** `helm template` with the given values; extra arguments (such as --set) come after them. */
export function template(values: Values, extra: string[] = [], release = 'test'): HelmResult {
  return runHelm(['template', release, chartDir, '--namespace', 'mesh', '-f', valuesFile(values), ...extra]);
}

export function render(values: Values, extra: string[] = [], release = 'test'): K8sObject[] {
  const r = template(values, extra, release);
  if (r.status !== 0) throw new Error(`helm template failed (${r.status}): ${r.stderr}`);
  const docs = parseAllDocuments(r.stdout);
  for (const d of docs) {
    if (d.errors.length > 0) throw new Error(`rendered invalid YAML: ${d.errors[0]?.message}`);
  }
  return docs.map((d) => d.toJS() as K8sObject | null).filter((o): o is K8sObject => o !== null);
}

export function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) {
    const have = objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ');
    throw new Error(`no ${kind}/${name} among: ${have}`);
  }
  return found;
}

export function containerOf(workload: K8sObject): Container {
  const c = workload.spec?.template?.spec.containers[0];
  if (!c) throw new Error(`${workload.kind}/${workload.metadata.name} has no container`);
  return c;
}

export function commandOf(workload: K8sObject): string[] {
  const c = containerOf(workload);
  return [...(c.command ?? []), ...(c.args ?? [])];
}

/** The value after a flag in a command line (`--flag value`). */
export function flag(command: string[], name: string): string | undefined {
  const i = command.indexOf(name);
  return i >= 0 ? command[i + 1] : undefined;
}

export function merge(base: Values, override: Values): Values {
  const out: Values = { ...base };
  for (const [k, v] of Object.entries(override)) {
    const b = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' && !Array.isArray(b)
        ? merge(b as Values, v as Values)
        : v;
  }
  return out;
}

/** The value at a dotted path set to `value`, as `--set path=value` would, but in a values file. */
export function withValue(base: Values, path: string, value: unknown): Values {
  const override = path
    .split('.')
    .reverse()
    .reduce<unknown>((acc, key) => ({ [key]: acc }), value) as Values;
  return merge(base, override);
}

export function workloads(objects: K8sObject[]): K8sObject[] {
  return objects.filter((o) => ['Deployment', 'StatefulSet', 'DaemonSet'].includes(o.kind));
}

export function useHelm(): void {
  beforeAll(() => {
    helm = helmCli('meshpeer-helm-test-');
    scratch = helm.scratch;
  }, 25 * 60_000);

  afterAll(() => {
    helm?.cleanup();
  });
}

/**
 * The NOTES `helm install` would print. helm prints NOTES only when it installs (even --dry-run=client
 * asks a cluster), so this renders the chart's "meshpeer.notes" helper, which is all NOTES.txt holds
 * (chart.test.ts checks that), through a ConfigMap added to a copy of the chart.
 */
let notesChart = '';
export function notes(values: Values, extra: string[] = []): string {
  if (!notesChart) {
    notesChart = join(scratch, 'notes-chart');
    cpSync(chartDir, notesChart, { recursive: true });
    writeFileSync(
      join(notesChart, 'templates', 'zz-notes-preview.yaml'),
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  notes: {{ include "meshpeer.notes" . | toJson }}\n',
    );
  }
  const r = runHelm([
    'template',
    'test',
    notesChart,
    '--namespace',
    'mesh',
    '--show-only',
    'templates/zz-notes-preview.yaml',
    '-f',
    valuesFile(values),
    ...extra,
  ]);
  if (r.status !== 0) throw new Error(`helm template failed (${r.status}): ${r.stderr}`);
  const doc = parseAllDocuments(r.stdout)[0]?.toJS() as { data: { notes: string } };
  return doc.data.notes;
}

/** The values NOTES lists as ignored. */
export function ignoredIn(text: string): string[] {
  const at = text.indexOf('Ignored:');
  if (at < 0) return [];
  return text
    .slice(at)
    .split('\n')
    .slice(1)
    .filter((l) => l.startsWith('  - '))
    .map((l) => l.slice(4).trim());
}
