// Binding rules, as Consul has them: which logins through an auth method get which identity. A rule's
// Selector (the `?filter=` language) is matched against the fields the auth method vouched for, and its
// BindName is a template over the same fields (`${serviceaccount.name}`). Pure: decoding and evaluation.

import { evaluate, type FilterNode, FilterSyntaxError, parseFilter } from '../filter/filter.js';
import { invalid } from '../shared/errors.js';
import { decodeServiceIdentities, type NodeIdentity, type ServiceIdentity } from './identities.js';

/** The identities a binding rule can grant (Consul also has role, policy and templated-policy). */
export const BIND_TYPES = ['service', 'node'] as const;
export type BindType = (typeof BIND_TYPES)[number];

export interface BindingRuleFields {
  Description: string;
  AuthMethod: string;
  Selector: string;
  BindType: BindType;
  BindName: string;
}

export interface BindingRuleInput {
  ID?: unknown;
  Description?: unknown;
  AuthMethod?: unknown;
  Selector?: unknown;
  BindType?: unknown;
  BindName?: unknown;
}

/** What a login proved, as flat dotted names (`serviceaccount.name` → `backend`). */
export type LoginFields = Record<string, string>;

const VARIABLE = /\$\{([^}]*)\}/g;
const NODE_NAME = /^[A-Za-z0-9]([A-Za-z0-9\-_.]*[A-Za-z0-9])?$/;

function text(value: unknown, field: string): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw invalid(`Invalid Binding Rule: ${field}: must be a string`);
  return value;
}

/**
 * Checks a binding rule's fields: a known BindType, a BindName whose variables are all among
 * `selectable`, a Selector that parses and selects only those fields.
 */
export function decodeBindingRule(input: BindingRuleInput, selectable: readonly string[]): BindingRuleFields {
  const authMethod = text(input.AuthMethod, 'AuthMethod');
  if (authMethod === '') throw invalid('Invalid Binding Rule: no AuthMethod is set');
  const bindType = text(input.BindType, 'BindType');
  if (bindType === '') throw invalid('Invalid Binding Rule: no BindType is set');
  if (!(BIND_TYPES as readonly string[]).includes(bindType)) {
    throw invalid(
      `Invalid Binding Rule: unknown BindType ${JSON.stringify(bindType)}; meshpeer binds ${BIND_TYPES.join(' or ')}`,
    );
  }
  const bindName = text(input.BindName, 'BindName');
  if (bindName === '') throw invalid('Invalid Binding Rule: no BindName is set');
  for (const [, name] of bindName.matchAll(VARIABLE)) {
    if (!selectable.includes(name ?? '')) {
      throw invalid(
        `Invalid Binding Rule: BindName ${JSON.stringify(bindName)} uses unknown variable \${${name}}; ` +
          `the auth method provides ${selectable.map((s) => `\${${s}}`).join(', ')}`,
      );
    }
  }
  const selector = text(input.Selector, 'Selector');
  if (selector !== '') checkSelector(selector, selectable);
  return {
    Description: text(input.Description, 'Description'),
    AuthMethod: authMethod,
    Selector: selector,
    BindType: bindType as BindType,
    BindName: bindName,
  };
}

function checkSelector(selector: string, selectable: readonly string[]): void {
  let node: FilterNode;
  try {
    node = parseFilter(selector);
  } catch (err) {
    if (err instanceof FilterSyntaxError) {
      throw invalid(`Invalid Binding Rule: invalid Selector: column ${err.position}: ${err.detail}`);
    }
    throw err;
  }
  for (const path of selectorsOf(node)) {
    const name = path.join('.');
    if (!selectable.includes(name)) {
      throw invalid(
        `Invalid Binding Rule: Selector selects unknown field ${JSON.stringify(name)}; ` +
          `the auth method provides ${selectable.join(', ')}`,
      );
    }
  }
}

function selectorsOf(node: FilterNode): string[][] {
  if (node.op === 'and' || node.op === 'or') return [...selectorsOf(node.left), ...selectorsOf(node.right)];
  if (node.op === 'not') return selectorsOf(node.expr);
  if ('selector' in node) return [node.selector];
  return [];
}

/** The dotted fields as the nested record a selector walks. */
function nested(fields: LoginFields): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) {
    const parts = key.split('.');
    let at = out;
    for (const part of parts.slice(0, -1)) {
      at[part] ??= {};
      at = at[part] as Record<string, unknown>;
    }
    at[parts[parts.length - 1] ?? key] = value;
  }
  return out;
}

/** Whether a rule's Selector holds for a login (an empty Selector always does). */
export function ruleMatches(rule: Pick<BindingRuleFields, 'Selector'>, fields: LoginFields): boolean {
  return rule.Selector === '' || evaluate(parseFilter(rule.Selector), nested(fields));
}

/** BindName with each `${field}` replaced by the login's value. */
export function interpolate(template: string, fields: LoginFields): string {
  return template.replace(VARIABLE, (_, name: string) => {
    const value = fields[name];
    if (value === undefined) throw invalid(`BindName variable \${${name}} has no value for this login`);
    return value;
  });
}

export interface BoundIdentities {
  serviceIdentities: ServiceIdentity[];
  nodeIdentities: NodeIdentity[];
}

/**
 * The identities the matching rules grant a login. A bound name that is not a valid identity name is
 * an error naming the rule (Consul refuses such a login too).
 */
export function bindIdentities(
  rules: ReadonlyArray<BindingRuleFields & { ID: string }>,
  fields: LoginFields,
  datacenter: string,
): BoundIdentities {
  const services: Array<{ ServiceName: string }> = [];
  const nodes = new Map<string, NodeIdentity>();
  for (const rule of rules) {
    if (!ruleMatches(rule, fields)) continue;
    const name = interpolate(rule.BindName, fields);
    if (rule.BindType === 'service') services.push({ ServiceName: name });
    else {
      if (!NODE_NAME.test(name)) {
        throw invalid(`binding rule ${rule.ID} bound the invalid node name ${JSON.stringify(name)}`);
      }
      nodes.set(name, { NodeName: name, Datacenter: datacenter });
    }
  }
  let serviceIdentities: ServiceIdentity[];
  try {
    serviceIdentities = decodeServiceIdentities(services);
  } catch (err) {
    throw invalid(`a binding rule bound an invalid service name: ${(err as Error).message}`);
  }
  return { serviceIdentities, nodeIdentities: [...nodes.values()] };
}
