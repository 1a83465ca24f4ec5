import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromTransport } from '../src/firmware/index.js';
import { createMqttLink, type MqttLink } from '../src/mqtt-link.js';
import { PresenceListener } from '../src/presence-listener.js';
import { SqliteDeviceRepository } from '../src/repositories/sqlite-device-repository.js';
import type { PostgresDatabase } from '../src/db/postgres.js';
import { auth, image, makeKey, signImage, startFirmwareApp, TinyDevice, upload, type FirmwareApp, type SimBehaviour } from './firmware-support.js';
import { silentLogger, startBroker, tempDir, waitFor, type TestBroker } from './helpers.js';
import { usePostgres } from './pg-support.js';
import { secondCloud } from './pg-two-clouds.js';

/** Two clouds on one PostgreSQL database, a real broker and MQTT devices: cloud A holds the
 * `firmware-campaigns` lease and runs the campaigns; creating, pausing, resuming and aborting
 * work through cloud B too, committed in the database, and A's runner acts on them. */
const pgs = usePostgres();
const key = makeKey('release');
const tmp = tempDir('yulan-fw-control-');
const PASSWORD = 'device-pass';
const SITES = { late: 4, hung: 3, race: 3, both: 2 } as const;

interface Cloud { link: MqttLink; presence: PresenceListener; s: FirmwareApp }
const clouds: Cloud[] = [];
const pools: PostgresDatabase[] = [];
let broker: TestBroker;
let devices: SqliteDeviceRepository;
const sims: TinyDevice[] = [];
let a: Cloud;
let b: Cloud;
let fwId = '';

async function openCloud(name: string, db: PostgresDatabase): Promise<Cloud> {
  const presence = new PresenceListener({ devices, logger: silentLogger, flushIntervalMs: 50 });
  const link = createMqttLink({ url: broker.url, username: name, password: 'cloud-pass', logger: silentLogger, onPresence: (t, p) => presence.handle(t, p) });
  await waitFor(() => link.connected(), `${name} mqtt link`);
  const s = await startFirmwareApp({ dataDir: join(tmp.dir, 'shared'), devices, keys: [key], mqtt: fromTransport(link), tickMs: 50, db: { kind: 'postgres', db } });
  const c = { link, presence, s };
  clouds.push(c);
  return c;
}

const site = (name: string) => sims.filter((d) => d.site === name);
const post = (c: Cloud, path: string, payload?: Record<string, unknown>) =>
  c.s.app.inject({ method: 'POST', url: `/api/v1${path}`, headers: auth, ...(payload ? { payload } : {}) });
const view = async (c: Cloud, id: string) => (await c.s.app.inject({ url: `/api/v1/campaigns/${id}`, headers: auth })).json() as Record<string, any>;
const until = (c: Cloud, id: string, what: string, ok: (v: Record<string, any>) => boolean, ms = 30_000) =>
  waitFor(async () => { const v = await view(c, id); return ok(v) ? v : undefined; }, what, ms);
const runnerStatus = (c: Cloud, id: string) => c.s.firmware.runner.liveCampaign(id)?.rec.state.status;
const create = (c: Cloud, siteName: string, extra: Record<string, unknown> = {}) => post(c, '/campaigns', {
  firmwareId: fwId, target: { kind: 'ev-charger', sites: [siteName] }, stages: [1], spreadSec: 0, soakSec: 0.3, reportEverySec: 2, seed: 5, ...extra,
});
const behaviours: Record<string, SimBehaviour> = { hung: { hangInstalling: true } };

beforeAll(async () => {
  if (pgs.skip) return;
  const dbA = await pgs.fresh();
  const dbB = secondCloud(dbA);
  pools.push(dbB);
  const users: Record<string, string> = { 'cloud-a': 'cloud-pass', 'cloud-b': 'cloud-pass' };
  for (const [s, n] of Object.entries(SITES)) for (let i = 0; i < n; i++) users[`${s}-${i}`] = PASSWORD;
  broker = await startBroker(users);
  devices = new SqliteDeviceRepository({ file: join(tmp.dir, 'registry.sqlite') });
  for (const [s, n] of Object.entries(SITES)) {
    for (let i = 0; i < n; i++) {
      await devices.create({ id: `${s}-${i}`, site: s, kind: 'ev-charger', firmwareVersion: '1.0.0', secretHash: 'unused' });
      const d = new TinyDevice(`${s}-${i}`, s, 'ev-charger', '1.0.0', [key], behaviours[s] ?? {});
      d.connectTo(broker.url, PASSWORD);
      // "late" devices come online only after the campaign was paused and resumed
      if (s !== 'late') await d.restart();
      sims.push(d);
    }
  }
  // A starts first and takes the lease; B is the cloud that does not run campaigns.
  a = await openCloud('cloud-a', dbA);
  b = await openCloud('cloud-b', dbB);
  const img = image(20_000, 9);
  const up = await upload(b.s.app, img, { version: '2.0.0', kind: 'ev-charger', key_id: key.id, signature: signImage(img, key) });
  expect(up.statusCode).toBe(201);
  fwId = up.json().id as string;
});

afterAll(async () => {
  for (const c of clouds) {
    await c.s.close();
    await c.link.close();
    await c.presence.close();
  }
  for (const d of sims) await d.close();
  await broker?.close();
  await devices?.close();
  for (const p of pools) await p.close();
  tmp.cleanup();
});

describe.skipIf(pgs.skip)('firmware campaign control through either of two clouds on one PostgreSQL database', () => {
  it('created, paused and resumed through the cloud that does not run it: the runner acts on each from the database; every device updates once', async () => {
    const r = await create(b, 'late');
    expect(r.statusCode).toBe(201);
    const id = r.json().id as string;
    await waitFor(() => a.s.firmware.runner.liveCampaign(id), 'cloud A runs the campaign created through B');
    expect(b.s.firmware.runner.liveCampaign(id)).toBeUndefined();
    // every device was due while offline: pending, the campaign stays open for them
    await until(b, id, 'all pending', (v) => v.counts.pending === SITES.late);

    const paused = await post(b, `/campaigns/${id}/pause`);
    expect(paused.statusCode).toBe(200);
    expect(paused.json().status).toBe('paused');
    const pausedAt = (await b.s.firmware.repo.getCampaign(id))?.state.pausedAt;
    // the same request again (on either cloud) is answered with the same state
    for (const c of [b, a]) {
      const again = await post(c, `/campaigns/${id}/pause`);
      expect(again.statusCode).toBe(200);
      expect(again.json().status).toBe('paused');
    }
    expect((await a.s.firmware.repo.getCampaign(id))?.state.pausedAt).toBe(pausedAt);
    await waitFor(() => runnerStatus(a, id) === 'paused', 'cloud A\'s runner sees the pause');

    const resumed = await post(b, `/campaigns/${id}/resume`);
    expect(resumed.statusCode).toBe(200);
    expect(resumed.json().status).toBe('running');
    await waitFor(() => runnerStatus(a, id) === 'running', 'cloud A\'s runner sees the resume');

    for (const d of site('late')) await d.restart();
    const done = await until(b, id, 'completed', (v) => v.status !== 'running', 45_000);
    expect(done).toMatchObject({ status: 'completed', devices: SITES.late });
    expect(done.counts.succeeded).toBe(SITES.late);
    expect(site('late').map((d) => [d.id, d.version, d.deliveries])).toEqual(site('late').map((d) => [d.id, '2.0.0', 1]));
    expect(a.s.firmware.runner.liveCampaign(id)).toBeUndefined();
  });

  it('aborted through the cloud that does not run it: devices under way end cancelled, the runner lets it go; the same abort again is a 409', async () => {
    const id = (await create(b, 'hung', { updateTimeoutSec: 600 })).json().id as string;
    await until(a, id, 'every device installing', (v) => v.counts.installing === SITES.hung);
    const aborted = await post(b, `/campaigns/${id}/abort`);
    expect(aborted.statusCode).toBe(200);
    expect(aborted.json()).toMatchObject({ status: 'aborted', reason: 'operator: aborted by an operator' });
    expect(aborted.json().counts.cancelled).toBe(SITES.hung);
    await waitFor(() => a.s.firmware.runner.liveCampaign(id) === undefined, 'cloud A\'s runner lets the aborted campaign go');
    // A's memory did not overwrite the abort
    const after = await view(a, id);
    expect(after.status).toBe('aborted');
    expect(after.counts.cancelled).toBe(SITES.hung);
    for (const c of [a, b]) {
      const again = await post(c, `/campaigns/${id}/abort`);
      expect(again.statusCode).toBe(409);
      expect(again.json().message).toBe('cannot abort: campaign is aborted');
    }
  });

  it('pause through one cloud and abort through the other at once end in one state, seen alike by both', async () => {
    const id = (await create(a, 'race', { spreadSec: 3600 })).json().id as string;
    await waitFor(() => a.s.firmware.runner.liveCampaign(id), 'cloud A runs it');
    const [pause, abort] = await Promise.all([post(b, `/campaigns/${id}/pause`), post(a, `/campaigns/${id}/abort`)]);
    expect(abort.statusCode).toBe(200);
    expect([200, 409]).toContain(pause.statusCode);
    if (pause.statusCode === 409) expect(pause.json().message).toBe('cannot pause: campaign is aborted');
    await waitFor(() => a.s.firmware.runner.liveCampaign(id) === undefined, 'cloud A lets it go');
    const [va, vb] = [await view(a, id), await view(b, id)];
    expect(va).toEqual(vb);
    expect(va.status).toBe('aborted');
    expect(va.counts.skipped).toBe(SITES.race);
  });

  it('two operators creating campaigns for the same devices through the two clouds at once: one 201, one 409 naming the campaign', async () => {
    const [x, y] = await Promise.all([create(a, 'both', { spreadSec: 3600 }), create(b, 'both', { spreadSec: 3600 })]);
    expect([x.statusCode, y.statusCode].sort()).toEqual([201, 409]);
    const [won, lost] = x.statusCode === 201 ? [x, y] : [y, x];
    expect(lost.json().message).toMatch(new RegExp(`2 device\\(s\\) \\(both-0, both-1\\) are claimed by live campaign ${won.json().id} \\(firmware 2\\.0\\.0\\).*supersede`));
    // supersede through the cloud that does not run it
    const sup = await create(b, 'both', { spreadSec: 3600, supersede: true });
    expect(sup.statusCode).toBe(201);
    expect(await view(a, won.json().id)).toMatchObject({ status: 'aborted', reason: `operator: superseded by campaign ${sup.json().id}` });
    expect((await post(a, `/campaigns/${sup.json().id}/abort`)).statusCode).toBe(200);
  });
});
