// ACL policies: create, read, list, replace and delete them in the store, beside the built-in policies
// (src/acl/builtin-policies.ts), which always exist and are stored only once renamed; and the lookup of a
// token's policy links (by ID or Name) to policy IDs.
import { randomUUID } from 'node:crypto';
import { invalid, notFound } from '../shared/errors.js';
import type { Store, StoredEntry, WriteTxn } from '../store/store.js';
import { optionalString, POLICIES, type PolicyRecord, stringList } from './acl-tables.js';
import { BUILTIN_POLICIES, type BuiltinPolicy } from './builtin-policies.js';
import { parseRules } from './rules.js';

export interface PolicyView {
  ID: string;
  Name: string;
  Description: string;
  Rules: string;
  Datacenters?: string[];
  CreateIndex: number;
  ModifyIndex: number;
}

export interface PolicyInput {
  ID?: unknown;
  Name?: unknown;
  Description?: unknown;
  Rules?: unknown;
  Datacenters?: unknown;
}

const POLICY_NAME = /^[A-Za-z0-9\-_]{1,128}$/;

export class PolicyStore {
  constructor(private readonly store: Store) {}

  /** A stored policy, or a built-in one (stored only once renamed). */
  record(id: string): PolicyRecord | undefined {
    return this.store.get<PolicyRecord>(POLICIES, id)?.value ?? BUILTIN_POLICIES.get(id);
  }

  list(): PolicyView[] {
    const stored = this.store.list<PolicyRecord>(POLICIES);
    const storedIds = new Set(stored.map((e) => e.key));
    const builtins = [...BUILTIN_POLICIES.values()].filter((p) => !storedIds.has(p.ID)).map(builtinView);
    return [...builtins, ...stored.map(policyView)];
  }

  read(id: string): PolicyView {
    const entry = this.store.get<PolicyRecord>(POLICIES, id);
    if (entry !== undefined) return policyView(entry);
    const builtin = BUILTIN_POLICIES.get(id);
    if (builtin !== undefined) return builtinView(builtin);
    throw notFound(`ACL policy not found: ${JSON.stringify(id)}`);
  }

  /**
   * Creates a policy (id undefined) or replaces one. A built-in policy may be renamed or described
   * anew, as in Consul, but its rules and datacenters cannot change.
   */
  async write(input: PolicyInput, id?: string): Promise<PolicyView> {
    const name = optionalString(input.Name, 'Name');
    if (name === undefined || name === '') throw invalid('Invalid Policy: no Name is set');
    const rules = optionalString(input.Rules, 'Rules') ?? '';
    const description = optionalString(input.Description, 'Description') ?? '';
    const datacenters = stringList(input.Datacenters, 'Datacenters');
    const bodyId = optionalString(input.ID, 'ID');
    if (id !== undefined && bodyId !== undefined && bodyId !== '' && bodyId !== id) {
      throw invalid('Policy ID in URL and payload do not match');
    }
    const builtin = id === undefined ? undefined : BUILTIN_POLICIES.get(id);
    if (builtin !== undefined) {
      const which = `the builtin ${builtin.Name.replace(/^builtin\//, '')} policy`;
      if (datacenters.length > 0) throw invalid(`Changing the Datacenters of ${which} is not permitted`);
      if (rules !== builtin.Rules) throw invalid(`Changing the Rules for ${which} is not permitted`);
    }
    if (!POLICY_NAME.test(name) && !(builtin !== undefined && name === builtin.Name)) {
      throw invalid("Invalid Policy: invalid Name. Only alphanumeric characters, '-' and '_' are allowed");
    }
    const parsed = builtin?.parsed ?? (await parseRules(rules));
    const { result } = await this.store.write((tx) => {
      if (id !== undefined && builtin === undefined && tx.get(POLICIES, id) === undefined) {
        throw notFound(`ACL policy not found: ${JSON.stringify(id)}`);
      }
      const policyId = id ?? randomUUID();
      const clash = this.allIn(tx).find((p) => p.Name === name && p.ID !== policyId);
      if (clash !== undefined) {
        throw invalid(`Invalid Policy: A Policy with Name ${JSON.stringify(name)} already exists`);
      }
      const record: PolicyRecord = {
        ID: policyId,
        Name: name,
        Description: description,
        Rules: rules,
        parsed,
      };
      if (datacenters.length > 0) record.Datacenters = [...new Set(datacenters)];
      return policyView(tx.put<PolicyRecord>(POLICIES, policyId, record));
    });
    return result;
  }

  async delete(id: string): Promise<void> {
    const builtin = BUILTIN_POLICIES.get(id);
    if (builtin !== undefined) {
      throw invalid(
        `Delete operation not permitted on the builtin ${builtin.Name.replace(/^builtin\//, '')} policy`,
      );
    }
    const { result } = await this.store.write((tx) => tx.delete(POLICIES, id));
    if (!result) throw notFound(`ACL policy not found: ${JSON.stringify(id)}`);
  }

  /** Policy links by ID or Name, resolved to IDs as tx sees the policies (deduplicated, in order). */
  linkIds(tx: WriteTxn, links: unknown[]): string[] {
    const policies = this.allIn(tx);
    const ids = links.map((link: unknown, i) => {
      const l = (typeof link === 'object' && link !== null ? link : {}) as { ID?: unknown; Name?: unknown };
      const byId = typeof l.ID === 'string' && l.ID !== '';
      const found = policies.find((p) => (byId ? p.ID === l.ID : p.Name === l.Name));
      if (found === undefined) {
        const what = byId ? `ID ${l.ID}` : `Name ${JSON.stringify(l.Name)}`;
        throw invalid(`Invalid Token: Policies[${i}]: no policy with ${what}`);
      }
      return found.ID;
    });
    return [...new Set(ids)];
  }

  /** Every policy as a transaction sees them, the built-in ones included. */
  private allIn(tx: WriteTxn): PolicyRecord[] {
    const stored = tx.list<PolicyRecord>(POLICIES).map((e) => e.value);
    const ids = new Set(stored.map((p) => p.ID));
    return [...stored, ...[...BUILTIN_POLICIES.values()].filter((p) => !ids.has(p.ID))];
  }
}

function builtinView(p: BuiltinPolicy): PolicyView {
  return {
    ID: p.ID,
    Name: p.Name,
    Description: p.Description,
    Rules: p.Rules,
    CreateIndex: 0,
    ModifyIndex: 0,
  };
}

function policyView(entry: StoredEntry<PolicyRecord>): PolicyView {
  const p = entry.value;
  const view: PolicyView = {
    ID: p.ID,
    Name: p.Name,
    Description: p.Description,
    Rules: p.Rules,
    CreateIndex: entry.createIndex,
    ModifyIndex: entry.modifyIndex,
  };
  if (p.Datacenters?.length) view.Datacenters = p.Datacenters;
  return view;
}
