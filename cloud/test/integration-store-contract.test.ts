import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { digestToken } from '../src/auth-tokens.js';
import type { DbTarget } from '../src/db/target.js';
import { openIntegrationStores } from '../src/integrations/pg-integration-store.js';
import type { IntegrationRecord } from '../src/integrations/store.js';
import { IntegrationService } from '../src/integrations/service.js';
import { ApiTokenService } from '../src/integrations/token-service.js';
import { silentLogger, tempDir } from './helpers.js';
import { usePostgres } from './pg-support.js';
import { secondCloud } from './pg-second-cloud.js';

const pgs = usePostgres();
const tmp = tempDir('yulan-int-contract-');
afterAll(() => tmp.cleanup());
let n = 0;

const factories: [string, () => Promise<DbTarget>][] = [
  ['sqlite', async () => ({ kind: 'sqlite', file: join(tmp.dir, `integrations-${n++}.sqlite`) })],
  ['postgres', async () => ({ kind: 'postgres', db: await pgs.fresh() })],
];

const account = (name: string, o: Partial<IntegrationRecord> = {}): IntegrationRecord => ({
  name, status: 'active', rules: [{ filter: 'yulan/v1/+/env-monitor/+/telemetry', read: true, write: false }], namespace: false, healthGrant: false,
  description: null, createdAt: '2026-01-02T03:04:05.678Z', updatedAt: '2026-01-02T03:04:05.678Z', secretRotatedAt: '2026-01-02T03:04:05.678Z', ...o,
});

async function services(target: DbTarget, now = Date.now) {
  const stores = await openIntegrationStores(target);
  return { ...stores, tokens: new ApiTokenService({ tokens: stores.tokens, integrations: stores.accounts, logger: silentLogger, now }), tokenStore: stores.tokens };
}

describe.each(factories)('integration accounts and API tokens contract (%s)', (kind, make) => {
  it.skipIf(kind === 'postgres' && pgs.skip)('keeps accounts with their secret hash, refuses a taken name, audits newest first', async () => {
    const { accounts } = await services(await make());
    expect(await accounts.insert(account('grafana'), 'hash-1')).toBe(true);
    expect(await accounts.insert(account('grafana', { description: 'again' }), 'hash-2')).toBe(false);
    expect(await accounts.get('grafana')).toEqual(account('grafana'));
    expect((await accounts.secretHash('grafana'))?.hash).toBe('hash-1');
    const patched = await accounts.update('grafana', { status: 'disabled', healthGrant: true, namespace: true, description: 'd', updatedAt: '2026-02-01T00:00:00.000Z' });
    expect(patched).toEqual({ ...account('grafana'), status: 'disabled', healthGrant: true, namespace: true, description: 'd', updatedAt: '2026-02-01T00:00:00.000Z' });
    expect(await accounts.get('grafana')).toEqual(patched);
    expect((await accounts.secretHash('grafana'))?.hash).toBe('hash-1');
    // only the fields given change; a description can be cleared
    const rules = [{ filter: 'ext/grafana/#', read: true, write: true }];
    expect(await accounts.update('grafana', { rules, description: null, updatedAt: '2026-02-02T00:00:00.000Z' }))
      .toEqual({ ...patched, rules, description: null, updatedAt: '2026-02-02T00:00:00.000Z' });
    await accounts.update('grafana', { updatedAt: '2026-02-03T00:00:00.000Z', secretRotatedAt: '2026-02-03T00:00:00.000Z' }, 'hash-3');
    expect((await accounts.secretHash('grafana'))?.hash).toBe('hash-3');
    expect(await accounts.get('grafana')).toMatchObject({ status: 'disabled', rules, secretRotatedAt: '2026-02-03T00:00:00.000Z' });
    expect(await accounts.update('nobody', { status: 'active', updatedAt: '2026-02-03T00:00:00.000Z' })).toBeUndefined();
    await accounts.insert(account('another'), 'h');
    expect((await accounts.list()).map((a) => a.name)).toEqual(['another', 'grafana']);
    await accounts.audit('2026-01-01T00:00:00.000Z', 'admin-token', 'grafana', 'integration.create', 'rules');
    await accounts.audit('2026-01-01T00:00:01.000Z', 'broker', 'grafana', 'integration.health-connect', null);
    expect((await accounts.auditOf('grafana', 10)).map((a) => [a.at, a.action, a.detail])).toEqual([
      ['2026-01-01T00:00:01.000Z', 'integration.health-connect', null], ['2026-01-01T00:00:00.000Z', 'integration.create', 'rules']]);
    expect(await accounts.auditOf('grafana', 1)).toHaveLength(1);
    expect(await accounts.delete('grafana')).toBe(true);
    expect(await accounts.delete('grafana')).toBe(false);
    expect(await accounts.get('grafana')).toBeUndefined();
  });

  it.skipIf(kind === 'postgres' && pgs.skip)('keeps a token as a digest only, joined with its account\'s state, and revokes it once', async () => {
    const { accounts, tokenStore } = await services(await make());
    await accounts.insert(account('nodered', { healthGrant: true }), 'h');
    const rec = { id: '0123456789abcdef', integration: 'nodered', scopes: ['telemetry:read' as const], sites: ['xuhui'], kinds: [], description: 'd',
      createdAt: '2026-01-01T00:00:00.000Z', expiresAt: '2027-01-01T00:00:00.000Z', revokedAt: null };
    const digest = digestToken('ylt_0123456789abcdef_secret');
    await tokenStore.insert(rec, digest);
    await tokenStore.insert({ ...rec, id: 'fedcba9876543210', integration: null, createdAt: '2026-01-01T00:00:01.000Z', expiresAt: null }, digest);
    const found = await tokenStore.withDigest(rec.id);
    expect(found?.record).toEqual(rec);
    expect(Buffer.compare(found!.digest, digest)).toBe(0);
    expect(found?.account).toEqual({ status: 'active', healthGrant: true });
    expect((await tokenStore.withDigest('fedcba9876543210'))?.account).toBeNull();
    expect((await tokenStore.list()).map((t) => t.id)).toEqual([rec.id, 'fedcba9876543210']);
    expect((await tokenStore.list('nodered')).map((t) => t.id)).toEqual([rec.id]);
    expect(await tokenStore.revoke(rec.id, '2026-03-01T00:00:00.000Z')).toBe(true);
    expect(await tokenStore.revoke(rec.id, '2026-03-02T00:00:00.000Z')).toBe(false);
    expect((await tokenStore.get(rec.id))?.revokedAt).toBe('2026-03-01T00:00:00.000Z');
    expect(await tokenStore.revoke('0000000000000000', '2026-03-02T00:00:00.000Z')).toBe(false);
    await accounts.delete('nodered');
    expect((await tokenStore.withDigest(rec.id))?.account).toBeNull();
  });

  it.skipIf(kind === 'postgres' && pgs.skip)('resolves a token to its principal, and refuses a wrong secret, a revoked or expired token and a disabled or deleted account', async () => {
    let now = Date.parse('2026-05-01T00:00:00Z');
    const s = await services(await make(), () => now);
    await s.accounts.insert(account('nodered', { healthGrant: true }), 'h');
    const bound = await s.tokens.create({ integration: 'nodered', scopes: ['telemetry:read', 'alerts:read'], expiresInDays: 1 }, 'admin-token');
    const alone = await s.tokens.create({ scopes: ['telemetry:read'], sites: ['xuhui'] }, 'admin-token');
    expect(await s.tokens.resolve(bound.token)).toEqual({ ok: true, principal: {
      kind: 'api-token', tokenId: bound.record.id, integration: 'nodered', scopes: ['telemetry:read', 'alerts:read'], sites: [], kinds: [], healthGrant: true } });
    expect(await s.tokens.resolve(`${alone.token.slice(0, -1)}${alone.token.endsWith('A') ? 'B' : 'A'}`)).toEqual({ ok: false, reason: 'unknown' });
    expect(await s.tokens.resolve('ylt_nonsense')).toEqual({ ok: false, reason: 'malformed' });
    await s.accounts.update('nodered', { status: 'disabled', updatedAt: new Date(now).toISOString() });
    expect(await s.tokens.resolve(bound.token)).toEqual({ ok: false, reason: 'integration-disabled' });
    await s.accounts.delete('nodered');
    expect(await s.tokens.resolve(bound.token)).toEqual({ ok: false, reason: 'integration-gone' });
    now += 86_400_000;
    expect(await s.tokens.resolve(alone.token)).toMatchObject({ ok: true });
    await s.tokens.revoke(alone.record.id, 'admin-token');
    expect(await s.tokens.resolve(alone.token)).toEqual({ ok: false, reason: 'revoked' });
    const expiring = await s.tokens.create({ scopes: ['telemetry:read'], expiresInDays: 1 }, 'admin-token');
    now += 86_400_000;
    expect(await s.tokens.resolve(expiring.token)).toEqual({ ok: false, reason: 'expired' });
    // the audit trail names the token, never its secret
    const audit = await s.accounts.auditOf(`token:${alone.record.id}`, 10);
    expect(audit.map((a) => a.action)).toEqual(['token.revoke', 'token.create']);
    expect(JSON.stringify(audit)).not.toContain(alone.token.slice('ylt_0123456789abcdef_'.length));
  });
});

describe.skipIf(pgs.skip)('two clouds on one PostgreSQL database: integrations and tokens', () => {
  it('a token revoked on cloud A is refused on cloud B from its next request, and the account disabled on B stops it on A', async () => {
    const dbA = await pgs.fresh();
    const dbB = secondCloud(dbA);
    try {
      const a = await services({ kind: 'postgres', db: dbA });
      const b = await services({ kind: 'postgres', db: dbB });
      await a.accounts.insert(account('nodered'), 'h');
      const t = await a.tokens.create({ scopes: ['telemetry:read'] }, 'admin-token');
      const u = await a.tokens.create({ integration: 'nodered', scopes: ['telemetry:read'] }, 'admin-token');
      const principal = await b.tokens.resolve(t.token);
      expect(principal).toMatchObject({ ok: true });
      await a.tokens.revoke(t.record.id, 'admin-token');
      expect(await b.tokens.resolve(t.token)).toEqual({ ok: false, reason: 'revoked' });
      // a stream opened on B notices too (it asks before each write)
      expect(await b.tokens.stillValid((principal as { principal: Parameters<typeof b.tokens.stillValid>[0] }).principal)).toBeUndefined();
      expect(await a.tokens.resolve(u.token)).toMatchObject({ ok: true });
      await b.accounts.update('nodered', { status: 'disabled', updatedAt: new Date().toISOString() });
      expect(await a.tokens.resolve(u.token)).toEqual({ ok: false, reason: 'integration-disabled' });
    } finally { await dbB.close(); }
  });

  it('the same token revoked on both clouds at once is revoked and audited once; the same account name created on both is created once', async () => {
    const dbA = await pgs.fresh();
    const dbB = secondCloud(dbA);
    try {
      const a = await services({ kind: 'postgres', db: dbA });
      const b = await services({ kind: 'postgres', db: dbB });
      const t = await a.tokens.create({ scopes: ['telemetry:read'] }, 'admin-token');
      await Promise.all([a.tokens.revoke(t.record.id, 'admin-on-a'), b.tokens.revoke(t.record.id, 'admin-on-b')]);
      const audit = await a.accounts.auditOf(`token:${t.record.id}`, 10);
      expect(audit.filter((x) => x.action === 'token.revoke')).toHaveLength(1);
      const made = await Promise.all([a.accounts.insert(account('race'), 'ha'), b.accounts.insert(account('race'), 'hb')]);
      expect(made.filter(Boolean)).toHaveLength(1);
      expect((await b.accounts.secretHash('race'))?.hash).toBe(made[0] ? 'ha' : 'hb');
    } finally { await dbB.close(); }
  });

  it('a disable on one cloud and a rule change on the other at the same moment are both kept (the account is not re-enabled)', async () => {
    const dbA = await pgs.fresh();
    const dbB = secondCloud(dbA);
    try {
      const mqtt = { connected: () => false, publish: async () => undefined };
      const [sa, sb] = await Promise.all([openIntegrationStores({ kind: 'postgres', db: dbA }), openIntegrationStores({ kind: 'postgres', db: dbB })]);
      const a = new IntegrationService({ store: sa.accounts, mqtt, logger: silentLogger });
      const b = new IntegrationService({ store: sb.accounts, mqtt, logger: silentLogger });
      await a.create('grafana', { namespace: true }, 'admin');
      for (let i = 0; i < 10; i++) {
        const rules = [{ filter: `yulan/v1/site-${i}/+/+/telemetry`, read: true }];
        await Promise.all([a.setStatus('grafana', 'disabled', 'admin@a'), b.update('grafana', { rules }, 'admin@b')]);
        expect(await a.get('grafana')).toMatchObject({ status: 'disabled', rules: [{ ...rules[0], write: false }] });
        await b.setStatus('grafana', 'active', 'admin@b');
      }
    } finally { await dbB.close(); }
  });

  it('two clouds starting at once migrate the integrations schema once', async () => {
    const dbA = await pgs.fresh();
    const dbB = secondCloud(dbA);
    try {
      await Promise.all([openIntegrationStores({ kind: 'postgres', db: dbA }), openIntegrationStores({ kind: 'postgres', db: dbB })]);
      const v = await dbA.query<{ version: number }>('read', "SELECT version FROM public.yulan_schema WHERE component = 'integrations'");
      expect(v.rows[0]?.version).toBe(1);
    } finally { await dbB.close(); }
  });
});
