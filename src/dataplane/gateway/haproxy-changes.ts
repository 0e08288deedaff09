// How to move a running HAProxy from one plan to the next: runtime API commands when only names and
// endpoints changed (map entries added, changed or deleted; server slots re-addressed, enabled or put in
// maintenance), else a seamless reload, with the reason. Runtime commands never touch live connections;
// a reload leaves them to the old worker. Pure: plans in, commands out.
import { isIP } from 'node:net';
import type { Endpoint } from '../endpoint.js';
import type { RoutePlan } from './route-plan.js';

export type PlanChange =
  | { kind: 'none' }
  | { kind: 'runtime'; commands: string[]; summary: string }
  | { kind: 'reload'; why: string };

export interface RunningShape {
  /** Server slots per backend in the configuration HAProxy loaded last. */
  slots: ReadonlyMap<string, number>;
  namesMap: string;
}

export function changesBetween(running: RoutePlan, next: RoutePlan, shape: RunningShape): PlanChange {
  if (running.connectTimeoutMs !== next.connectTimeoutMs) return reload('the dial timeout changed');
  const before = new Map(running.backends.map((b) => [b.name, b]));
  const after = new Map(next.backends.map((b) => [b.name, b]));
  const added = [...after.keys()].filter((name) => !before.has(name));
  const removed = [...before.keys()].filter((name) => !after.has(name));
  if (added.length > 0 || removed.length > 0) {
    return reload(
      `destinations changed (${[...added.map((n) => `+${n}`), ...removed.map((n) => `-${n}`)].join(' ')})`,
    );
  }
  if (JSON.stringify(running.patterns) !== JSON.stringify(next.patterns)) return reload('peers changed');

  const servers: string[] = [];
  for (const [name, backend] of after) {
    const old = before.get(name)?.endpoints ?? [];
    if (sameEndpoints(old, backend.endpoints)) continue;
    const slots = shape.slots.get(name) ?? 0;
    if (backend.endpoints.length > slots) {
      return reload(`${name} has ${backend.endpoints.length} endpoints, more than its ${slots} server slots`);
    }
    if (backend.endpoints.some((e) => !isIP(e.host)))
      return reload(`${name} has endpoints named by host name`);
    for (let i = 0; i < slots; i++) {
      const was = old[i];
      const now = backend.endpoints[i];
      if (now && (!was || was.host !== now.host || was.port !== now.port)) {
        servers.push(`set server ${name}/s${i} addr ${now.host} port ${now.port}`);
        if (!was) servers.push(`set server ${name}/s${i} state ready`);
      } else if (!now && was) {
        servers.push(`set server ${name}/s${i} state maint`);
      }
    }
  }

  const adds: string[] = [];
  const dels: string[] = [];
  for (const [name, backend] of next.names) {
    const was = running.names.get(name);
    if (was === undefined) adds.push(`add map ${shape.namesMap} ${name} ${backend}`);
    else if (was !== backend) adds.push(`set map ${shape.namesMap} ${name} ${backend}`);
  }
  for (const name of running.names.keys()) {
    if (!next.names.has(name)) dels.push(`del map ${shape.namesMap} ${name}`);
  }
  // New servers first, so a name added in the same change never points at a slot not yet addressed.
  const commands = [...servers, ...adds, ...dels];
  if (commands.length === 0) return { kind: 'none' };
  const parts = [
    servers.length > 0 ? `${servers.length} server update(s)` : '',
    adds.length > 0 ? `${adds.length} name(s) added or changed` : '',
    dels.length > 0 ? `${dels.length} name(s) removed` : '',
  ];
  return { kind: 'runtime', commands, summary: parts.filter(Boolean).join(', ') };
}

/** Whether HAProxy's answer to a runtime command reports a failure. */
export function runtimeCommandFailed(answer: string): boolean {
  const text = answer.trim();
  if (text === '' || /^IP changed from|^no need to change|^port changed from/i.test(text)) return false;
  return true;
}

function sameEndpoints(a: readonly Endpoint[], b: readonly Endpoint[]): boolean {
  return a.length === b.length && a.every((e, i) => e.host === b[i]?.host && e.port === b[i]?.port);
}

function reload(why: string): PlanChange {
  return { kind: 'reload', why };
}
