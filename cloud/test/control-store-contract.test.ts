import { afterAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { CommandStatus as WireStatus, Severity } from '@yulan/protos';
import { SqliteControlStore, type ControlStore, type NewCommandRow } from '../src/control/store.js';
import { PgControlStore } from '../src/control/pg-control-store.js';
import { CommandService } from '../src/control/commands.js';
import { CloudErrorCode } from '../src/errors.js';
import { SqliteDeviceRepository } from '../src/repositories/sqlite-device-repository.js';
import type { MqttTransport } from '../src/mqtt-link.js';
import type { PostgresDatabase } from '../src/db/postgres.js';
import { usePostgres } from './pg-support.js';
import { secondCloud } from './pg-two-clouds.js';
import { silentLogger, tempDir } from './helpers.js';

const pgs = usePostgres();
const tmp = tempDir('control-contract-');
const extra: PostgresDatabase[] = [];
afterAll(async () => {
  await Promise.all(extra.map((d) => d.close()));
  tmp.cleanup();
});
let n = 0;
const impls: [string, () => Promise<ControlStore>][] = [['sqlite', async () => new SqliteControlStore(path.join(tmp.dir, `control-${n++}.sqlite`))]];
if (!pgs.skip) impls.push(['postgres', async () => PgControlStore.open(await pgs.fresh())]);

const cmd = (id: string, over: Partial<NewCommandRow> = {}): NewCommandRow => ({
  id, device_id: 'dev-1', site: 'site-a', kind: 'fall-sensor', name: 'fall.test_alarm', args: '{}', idempotency_key: null,
  timeout_ms: 30_000, created_at: 1_000, expires_at: 600_000, requested_by: 'admin-token', ...over,
});
const { Queued, Sent, Acknowledged, Succeeded } = { Queued: 'queued', Sent: 'sent', Acknowledged: 'acknowledged', Succeeded: 'succeeded' } as const;

describe.each(impls)('control store contract (%s)', (_name, open) => {
  it('desired twin is a compare-and-set on its version; reported state is kept beside it', async () => {
    const s = await open();
    expect(await s.getTwin('dev-1')).toBeUndefined();
    await s.setReported('dev-1', 'env-monitor', 0, { interval_s: 60 }, null, 5);
    expect(await s.setDesired('dev-1', 'env-monitor', 0, { interval_s: 30 }, 10, 'alice')).toBe(true);
    expect(await s.setDesired('dev-1', 'env-monitor', 0, { interval_s: 10 }, 11)).toBe(false);
    expect(await s.setDesired('dev-1', 'env-monitor', 1, { interval_s: 20 }, 12)).toBe(true);
    expect(await s.setDesired('dev-2', 'env-monitor', 3, { interval_s: 20 }, 12)).toBe(false);
    const t = await s.getTwin('dev-1');
    expect(t).toMatchObject({ desired_version: 2, desired: { interval_s: 20 }, desired_at: 12, desired_by: null, applied_version: 0, reported: { interval_s: 60 }, reported_at: 5 });
    await s.setReported('dev-1', 'env-monitor', 2, { interval_s: 20 }, 'too fast', 13);
    expect(await s.getTwin('dev-1')).toMatchObject({ desired_version: 2, applied_version: 2, reported_error: 'too fast' });
    await s.close();
  });

  it('stores commands, finds them by idempotency key, refuses a taken id or key, lists newest first', async () => {
    const s = await open();
    const row = await s.insertCommand(cmd('c1', { idempotency_key: 'k1' }));
    expect(row).toMatchObject({ id: 'c1', status: Queued, updated_at: 1_000, progress: null, requested_by: 'admin-token' });
    await expect(s.insertCommand(cmd('c1'))).rejects.toMatchObject({ code: CloudErrorCode.Duplicate });
    await expect(s.insertCommand(cmd('c2', { idempotency_key: 'k1' }))).rejects.toMatchObject({ code: CloudErrorCode.Duplicate });
    await s.insertCommand(cmd('c2', { idempotency_key: 'k1', device_id: 'dev-2' }));
    await s.insertCommand(cmd('c3', { created_at: 2_000 }));
    expect((await s.byIdempotencyKey('dev-1', 'k1'))?.id).toBe('c1');
    expect(await s.byIdempotencyKey('dev-1', 'nope')).toBeUndefined();
    expect(await s.listCommands('dev-1', { limit: 1, offset: 0 })).toMatchObject({ total: 2, items: [{ id: 'c3' }] });
    expect((await s.listCommands('dev-1', { limit: 5, offset: 1 })).items.map((r) => r.id)).toEqual(['c1']);
    await s.transition('c3', [Queued], 'expired', 3_000, { message: 'expired before delivery' });
    expect(await s.listCommands('dev-1', { status: 'expired', limit: 5, offset: 0 })).toMatchObject({ total: 1, items: [{ id: 'c3' }] });
    expect((await s.activeCommands()).map((r) => r.id)).toEqual(['c1', 'c2']);
    expect((await s.activeCommands('dev-2')).map((r) => r.id)).toEqual(['c2']);
    await s.close();
  });

  it('a transition moves only from the expected statuses, patches only what it names and records each change', async () => {
    const s = await open();
    await s.insertCommand(cmd('c1'));
    expect(await s.transition('c1', [Sent], Acknowledged, 2_000)).toBeUndefined();
    expect(await s.transition('c1', [Queued], Sent, 2_000, { sent_at: 2_000, deadline_at: 32_000 })).toMatchObject({ status: Sent, sent_at: 2_000, deadline_at: 32_000 });
    expect(await s.transition('c1', [Sent], Sent, 2_500, { last_sent_at: 2_500 })).toMatchObject({ status: Sent, sent_at: 2_000, last_sent_at: 2_500 });
    await s.transition('c1', [Sent], Acknowledged, 3_000, { acked_at: 3_000, ack_seq: 7, ack_device_ts: null, progress: '{}' });
    expect(await s.transition('c1', [Acknowledged], Succeeded, 4_000)).toMatchObject({ status: Succeeded, ack_seq: 7, acked_at: 3_000, updated_at: 4_000 });
    expect(await s.transition('c1', [Queued, Sent, Acknowledged], 'failed', 5_000, { message: 'late' })).toBeUndefined();
    expect(await s.transitions('c1')).toEqual([
      { status: Queued, at: 1_000, message: null }, { status: Sent, at: 2_000, message: null },
      { status: Acknowledged, at: 3_000, message: null }, { status: Succeeded, at: 4_000, message: null },
    ]);
    expect(await s.transition('nope', [Queued], Sent, 1)).toBeUndefined();
    await s.close();
  });

  it('racing moves of one command: exactly one confirmation is recorded', async () => {
    const s = await open();
    await s.insertCommand(cmd('c1'));
    await s.transition('c1', [Queued], Acknowledged, 2_000, { acked_at: 2_000 });
    const r = await Promise.all([1, 2, 3, 4].map((i) => s.transition('c1', [Acknowledged], i % 2 ? Succeeded : 'failed', 3_000 + i)));
    expect(r.filter((x) => x !== undefined)).toHaveLength(1);
    expect((await s.transitions('c1')).map((t) => t.status)).toEqual([Queued, Acknowledged, r.find((x) => x)!.status]);
    await s.close();
  });
});

function stubMqtt(): MqttTransport & { published: string[] } {
  const published: string[] = [];
  return {
    published,
    connected: () => true,
    publish: async (topic) => { published.push(topic); },
    subscribe: () => undefined,
    unsubscribe: () => undefined,
    onMessage: () => undefined,
    onConnect: () => undefined,
  };
}

describe.skipIf(pgs.skip)('commands with two clouds on one PostgreSQL database', () => {
  async function twoClouds() {
    const dbA = await pgs.fresh();
    const dbB = secondCloud(dbA);
    extra.push(dbB);
    const devices = new SqliteDeviceRepository({ file: ':memory:' });
    await devices.create({ id: 'fall-1', site: 'site-a', kind: 'fall-sensor', secretHash: 'x' });
    const mk = async (db: PostgresDatabase) => new CommandService({ store: await PgControlStore.open(db), devices, mqtt: stubMqtt(), logger: silentLogger });
    return { a: await mk(dbA), b: await mk(dbB), devices };
  }

  it('both clouds see the event that confirms a command: the confirmation is recorded once', async () => {
    const { a, b, devices } = await twoClouds();
    const addr = { site: 'site-a', kind: 4 as never, deviceId: 'fall-1' };
    for (let i = 0; i < 5; i++) {
      const { row } = await a.create('fall-1', { name: 'fall.test_alarm' });
      await b.onResult(addr, { commandId: row.id, status: WireStatus.ACCEPTED, message: '', output: {} });
      expect((await a.get(row.id))?.status).toBe(Acknowledged);
      const ev = { type: 'event' as const, msg: { type: 'test.alarm', severity: Severity.INFO, message: '', attributes: {} } as never };
      await Promise.all([a.onObservation('fall-1', ev), b.onObservation('fall-1', ev)]);
      const t = await a.transitionsOf(row.id);
      expect(t.filter((x) => x.status === Succeeded)).toHaveLength(1);
      expect(t.at(-1)?.status).toBe(Succeeded);
    }
    await devices.close();
  });

  it('command ids are unique across clouds, and one Idempotency-Key sent to both at once makes one command', async () => {
    const { a, b, devices } = await twoClouds();
    const made = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).create('fall-1', { name: 'fall.test_alarm' })));
    expect(new Set(made.map((m) => m.row.id)).size).toBe(40);
    const same = await Promise.all([a.create('fall-1', { name: 'fall.test_alarm' }, 'key-1'), b.create('fall-1', { name: 'fall.test_alarm' }, 'key-1')]);
    expect(same[0].row.id).toBe(same[1].row.id);
    expect(same.map((x) => x.created).sort()).toEqual([false, true]);
    expect((await a.list('fall-1', { limit: 100, offset: 0 })).total).toBe(41);
    await devices.close();
  });
});
