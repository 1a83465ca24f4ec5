import {
  ControlTopic, INTEGRATION_NAME_RE, INTEGRATION_USER_PREFIX, MAX_INTEGRATION_RULES, generateSecret, hashSecret, isReservedId, ruleFilterProblem, verifySecret,
  type IntegrationAccount, type IntegrationNotice, type IntegrationRule,
} from '@yulan/protos';
import type { Logger } from 'pino';
import type { AuditLog } from '../care/contracts.js';
import { CloudError, CloudErrorCode } from '../errors.js';
import type { IntegrationAuditRow, IntegrationRecord, IntegrationStore } from './store.js';

/** What the service needs from the cloud's MQTT link. */
export interface NoticePublisher {
  connected(): boolean;
  publish(topic: string, payload: Uint8Array, opts: { qos: 0 | 1 }): Promise<void>;
}

export interface IntegrationInput {
  rules?: { filter: string; read?: boolean; write?: boolean }[];
  namespace?: boolean;
  healthGrant?: boolean;
  description?: string | null;
}

/** Whether the broker has been told (`pending`: it is told again on the link's next connect). */
export type NoticeState = 'sent' | 'pending';


/**
 * Integration accounts (docs/integrations.md): the registry's rules, not the routes'.
 * Every change that matters to a live session is announced to the broker on
 * `$yulan/v1/control/integration`; every change and every authentication of an account
 * holding the health grant is written to the audit trail (and to the people module's
 * audit log when it is open, where health-data access is reviewed).
 */
export class IntegrationService {
  readonly #decoy: Promise<string>;

  constructor(private readonly o: {
    store: IntegrationStore;
    mqtt: NoticePublisher;
    logger: Logger;
    healthAudit?: AuditLog;
    now?: () => number;
  }) {
    this.#decoy = hashSecret(generateSecret());
  }

  #now(): string {
    return new Date((this.o.now ?? Date.now)()).toISOString();
  }

  async list(): Promise<IntegrationRecord[]> {
    return this.o.store.list();
  }

  async get(name: string): Promise<IntegrationRecord> {
    const r = await this.o.store.get(name);
    if (!r) throw new CloudError(CloudErrorCode.NotFound, `integration "${name}" does not exist`);
    return r;
  }

  async audit(name: string, limit = 100): Promise<IntegrationAuditRow[]> {
    await this.get(name);
    return this.o.store.auditOf(name, limit);
  }

  async create(name: string, input: IntegrationInput, actor: string): Promise<{ record: IntegrationRecord; secret: string }> {
    if (!INTEGRATION_NAME_RE.test(name) || isReservedId(name)) {
      throw new CloudError(CloudErrorCode.Validation, `integration name "${name}" must be 1-32 of a-z 0-9 _ - (starting with a letter or digit) and not reserved`);
    }
    const now = this.#now();
    const record: IntegrationRecord = {
      name, status: 'active', rules: normaliseRules(input.rules ?? []), namespace: input.namespace ?? false,
      healthGrant: input.healthGrant ?? false, description: input.description ?? null, createdAt: now, updatedAt: now, secretRotatedAt: now,
    };
    if (record.rules.length === 0 && !record.namespace) throw new CloudError(CloudErrorCode.Validation, 'an integration needs at least one rule or its namespace');
    const secret = generateSecret();
    if (!await this.o.store.insert(record, await hashSecret(secret))) throw new CloudError(CloudErrorCode.Duplicate, `integration "${name}" already exists`);
    await this.#audit(actor, name, 'integration.create', describe(record), record.healthGrant);
    return { record, secret };
  }

  async update(name: string, input: IntegrationInput, actor: string): Promise<{ record: IntegrationRecord; notice: NoticeState }> {
    const before = await this.get(name);
    const record: IntegrationRecord = {
      ...before,
      ...(input.rules !== undefined ? { rules: normaliseRules(input.rules) } : {}),
      ...(input.namespace !== undefined ? { namespace: input.namespace } : {}),
      ...(input.healthGrant !== undefined ? { healthGrant: input.healthGrant } : {}),
      ...(input.description !== undefined ? { description: input.description } : {}),
      updatedAt: this.#now(),
    };
    if (record.rules.length === 0 && !record.namespace) throw new CloudError(CloudErrorCode.Validation, 'an integration needs at least one rule or its namespace');
    // Only the fields asked for: a concurrent disable on another cloud is not undone.
    const stored = await this.o.store.update(name, {
      ...(input.rules !== undefined ? { rules: record.rules } : {}),
      ...(input.namespace !== undefined ? { namespace: record.namespace } : {}),
      ...(input.healthGrant !== undefined ? { healthGrant: record.healthGrant } : {}),
      ...(input.description !== undefined ? { description: record.description } : {}),
      updatedAt: record.updatedAt,
    });
    if (!stored) throw new CloudError(CloudErrorCode.NotFound, `integration "${name}" does not exist`);
    const healthChanged = record.healthGrant !== before.healthGrant;
    await this.#audit(actor, name, healthChanged ? (record.healthGrant ? 'integration.health-grant' : 'integration.health-revoke') : 'integration.update',
      describe(stored), healthChanged);
    return { record: stored, notice: stored.status === 'active' ? await this.#notify(noticeFor(stored)) : 'sent' };
  }

  async setStatus(name: string, status: 'active' | 'disabled', actor: string): Promise<{ record: IntegrationRecord; notice: NoticeState }> {
    const record = await this.o.store.update(name, { status, updatedAt: this.#now() });
    if (!record) throw new CloudError(CloudErrorCode.NotFound, `integration "${name}" does not exist`);
    await this.#audit(actor, name, status === 'disabled' ? 'integration.disable' : 'integration.enable', null, false);
    return { record, notice: status === 'disabled' ? await this.#notify({ name, action: 'cut' }) : 'sent' };
  }

  async rotate(name: string, actor: string): Promise<{ record: IntegrationRecord; secret: string; notice: NoticeState }> {
    const now = this.#now();
    await this.get(name);
    const secret = generateSecret();
    const record = await this.o.store.update(name, { updatedAt: now, secretRotatedAt: now }, await hashSecret(secret));
    if (!record) throw new CloudError(CloudErrorCode.NotFound, `integration "${name}" does not exist`);
    await this.#audit(actor, name, 'integration.rotate', null, false);
    return { record, secret, notice: await this.#notify({ name, action: 'cut' }) };
  }

  async remove(name: string, actor: string): Promise<NoticeState> {
    const r = await this.get(name);
    await this.o.store.delete(name);
    await this.#audit(actor, name, 'integration.delete', null, r.healthGrant);
    return this.#notify({ name, action: 'cut' });
  }

  /** The broker's check. Unknown names still pay one scrypt verification (a decoy hash),
   * so neither the answer nor its latency tells which names exist. */
  async authenticate(name: string, secret: string): Promise<{ ok: true; account: IntegrationAccount } | { ok: false; reason: 'bad-credentials' | 'disabled' }> {
    const found = INTEGRATION_NAME_RE.test(name) ? await this.o.store.secretHash(name) : undefined;
    const ok = await verifySecret(secret, found?.hash ?? (await this.#decoy));
    if (!found || !ok) return { ok: false, reason: 'bad-credentials' };
    if (found.record.status === 'disabled') return { ok: false, reason: 'disabled' };
    if (found.record.healthGrant) await this.#audit('broker', name, 'integration.health-connect', 'authenticated with the health grant: fall-sensor topics readable', true);
    return { ok: true, account: toAccount(found.record) };
  }

  /** Every account's current state, for the broker after the link (re)connects: a notice
   * published while it was away is repaired by the next one. */
  async resendAll(): Promise<void> {
    for (const r of await this.o.store.list()) await this.#notify(r.status === 'active' ? noticeFor(r) : { name: r.name, action: 'cut' });
  }

  async #notify(n: IntegrationNotice): Promise<NoticeState> {
    if (!this.o.mqtt.connected()) return 'pending';
    try {
      await this.o.mqtt.publish(ControlTopic.Integration, Buffer.from(JSON.stringify(n)), { qos: 1 });
      return 'sent';
    } catch (err) {
      this.o.logger.warn({ err: { message: (err as Error).message }, integration: n.name }, 'integration notice not acknowledged; re-sent on reconnect');
      return 'pending';
    }
  }

  async #audit(actor: string, name: string, action: string, detail: string | null, health: boolean): Promise<void> {
    await this.o.store.audit(this.#now(), actor, name, action, detail);
    if (health && this.o.healthAudit) {
      await this.o.healthAudit.record({ actor, action, residentId: null, purpose: `integration ${INTEGRATION_USER_PREFIX}${name}`, ...(detail ? { detail } : {}) });
    }
  }
}

function normaliseRules(rules: IntegrationInput['rules'] & object): IntegrationRule[] {
  if (rules.length > MAX_INTEGRATION_RULES) throw new CloudError(CloudErrorCode.Validation, `at most ${MAX_INTEGRATION_RULES} rules`);
  return rules.map((r) => {
    const problem = ruleFilterProblem(r.filter);
    if (problem) throw new CloudError(CloudErrorCode.Validation, `rule "${r.filter}": ${problem}`);
    const rule = { filter: r.filter, read: r.read ?? false, write: r.write ?? false };
    if (!rule.read && !rule.write) throw new CloudError(CloudErrorCode.Validation, `rule "${r.filter}" grants neither read nor write`);
    return rule;
  });
}

export function toAccount(r: IntegrationRecord): IntegrationAccount {
  return { name: r.name, rules: r.rules, namespace: r.namespace, healthGrant: r.healthGrant };
}

function noticeFor(r: IntegrationRecord): IntegrationNotice {
  return { name: r.name, action: 'update', account: toAccount(r) };
}

function describe(r: IntegrationRecord): string {
  const rules = r.rules.map((x) => `${x.read ? 'r' : ''}${x.write ? 'w' : ''} ${x.filter}`).join('; ');
  return `rules: ${rules || '(none)'}; namespace: ${r.namespace}; health grant: ${r.healthGrant}`;
}
