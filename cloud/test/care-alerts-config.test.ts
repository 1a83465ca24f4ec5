import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadCloudConfig } from '../src/config.js';
import { ConfigError } from '../src/errors.js';
import { ADMIN, FakeDirectory, alertsApp, as, edgeAuth, openTestAlerts, report } from './care-alerts-support.js';
import { startCloud } from '../src/start.js';
import { cloudEnv, silentLogger, startBroker, startEdgeStub, tempDir, waitFor } from './helpers.js';

const base = { YULAN_CLOUD_MQTT_PASSWORD: 'p', YULAN_BROKER_TOKEN: 'b', YULAN_EDGE_TOKEN: 'e' };
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('care notification config', () => {
  it('is optional; public URL, SMTP URL and sender are read when set', () => {
    const none = loadCloudConfig(base);
    expect(none.publicUrl).toBeUndefined();
    expect(none.smtp).toBeUndefined();
    const set = loadCloudConfig({ ...base, YULAN_PUBLIC_URL: 'https://care.example.cn/', YULAN_SMTP_URL: 'smtps://u:pw@mail.example.cn:465', YULAN_SMTP_FROM: 'Yulan <care@example.cn>' });
    expect(set.publicUrl).toBe('https://care.example.cn');
    expect(set.smtp).toEqual({ url: 'smtps://u:pw@mail.example.cn:465', from: 'Yulan <care@example.cn>' });
  });

  it('rejects malformed values without echoing them (an SMTP URL may hold a password)', () => {
    try {
      loadCloudConfig({ ...base, YULAN_PUBLIC_URL: 'care.example.cn', YULAN_SMTP_URL: 'http://u:secretpw@x' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const msg = (err as Error).message;
      expect(msg).toContain('YULAN_PUBLIC_URL');
      expect(msg).toContain('YULAN_SMTP_URL');
      expect(msg).not.toContain('secretpw');
    }
  });
});

describe('startCloud', () => {
  it('opens alerts.sqlite with the people directory and serves intake and the care routes', async () => {
    const tmp = tempDir('yulan-alerts-start-');
    const broker = await startBroker({ cloud: 'cloud-pw' });
    const edge = await startEdgeStub();
    cleanups.push(tmp.cleanup, () => broker.close(), () => edge.close());
    const cloud = await startCloud(loadCloudConfig(cloudEnv(tmp.dir, broker, edge, 'cloud-pw', { YULAN_ADMIN_TOKEN: ADMIN })), silentLogger, { dashboardDir: null });
    cleanups.push(() => cloud.close());
    const rep = report({ deviceId: 'fall-nobody' });
    const r = await fetch(`${cloud.url}/api/v1/internal/alerts`, { method: 'POST', headers: { authorization: `Bearer ${edge.token}`, 'content-type': 'application/json' }, body: JSON.stringify(rep) });
    expect(r.status).toBe(200);
    expect((await r.json()) as object).toMatchObject({ id: rep.id, revision: 1 });
    const one = await fetch(`${cloud.url}/api/v1/alerts/${rep.id}`, { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(one.status).toBe(200);
    expect(((await one.json()) as { alert: { unassigned: boolean } }).alert.unassigned).toBe(true);
  });
});

describe('failure paths', () => {
  it('email without an SMTP server, and a person with no channel at all, fail over and are recorded', async () => {
    const tmp = tempDir('yulan-alerts-fail-');
    const dir = new FakeDirectory();
    dir.devices.set('fall-1', { id: 'res-1', name: 'Grandma Li', communityId: 'c1' });
    dir.add('f1', 'family', [{ type: 'email', address: 'f1@example.com' }]);
    dir.add('cc1', 'callcentre', []);
    dir.family = ['f1'];
    dir.callcentre = ['cc1'];
    dir.config = { cancelWindowSec: 0, familyAckSec: 3600, workerAckSec: 3600, reminderSec: 3600 };
    const alerts = await openTestAlerts(join(tmp.dir, 'alerts.sqlite'), dir);
    alerts.start();
    const app = await alertsApp(alerts);
    cleanups.push(tmp.cleanup, () => alerts.close(), () => app.close());
    const rep = report();
    await app.inject({ method: 'POST', url: '/api/v1/internal/alerts', headers: edgeAuth, payload: rep });
    // f1: email but no SMTP → unreachable → the worker step is empty → the call centre,
    // who has no channel at all: also recorded unreachable. Nobody is silently skipped.
    await waitFor(async () => (await alerts.repo.timeline(rep.id)).filter((t) => t.kind === 'unreachable').length === 2, 'both unreachable');
    await alerts.idle();
    const ns = (await alerts.repo.notificationsFor(rep.id));
    expect(ns.map((n) => [n.userId, n.status])).toEqual([['f1', 'failed'], ['cc1', 'failed']]);
    expect(ns[0]?.error).toMatch(/no SMTP server configured/);
    expect((await alerts.repo.get(rep.id))?.status).toBe('notifying');
    const m = await app.inject({ url: '/api/v1/care/metrics', headers: { authorization: `Bearer ${ADMIN}` } });
    expect(m.json()).toMatchObject({ alerts: { notifying: 1 }, notifications: { 'email:failed': 1, 'none:failed': 1 } });
    expect((await app.inject({ url: '/api/v1/care/metrics', headers: as('f1') })).statusCode).toBe(403);
  });
});
