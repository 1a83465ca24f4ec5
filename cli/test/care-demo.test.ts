import { afterAll, describe, expect, it } from 'vitest';
import { runUp, type UpHandle } from '../src/up.js';
import { api, eventually, quietLogger, tempDir } from './support.js';

/**
 * Issue 11 case 2 in the demo: `yulan up` used to seed a family member and a worker reached
 * only on an open care page, and no call centre, so an SOS with no page open ran the whole
 * ladder in milliseconds and reached nobody while the alert said "notifying". Now every
 * demo person is reachable on the demo pager and the cloud's fallback goes there too.
 */
describe('yulan up: the care demo reaches a person with no care page open', () => {
  const tmp = tempDir('yulan-care-demo-');
  let up: UpHandle | undefined;
  afterAll(async () => {
    await up?.close();
    tmp.cleanup();
  });

  const env = {
    YULAN_DATA_DIR: tmp.dir, YULAN_MQTT_PORT: '0', YULAN_WS_PORT: '0', YULAN_HTTP_PORT: '0', YULAN_EDGE_HTTP_PORT: '0',
    YULAN_DEMO_PAGER_PORT: '0', YULAN_MQTT_HOST: '127.0.0.1', YULAN_HTTP_HOST: '127.0.0.1', YULAN_OCPP_PORT: '0', YULAN_SIM_OCPP: '0',
    YULAN_SIM_DEVICES: '1', YULAN_SIM_RATE: '0.2', YULAN_SIM_SCENARIO: 'sos', YULAN_SIM_SCENARIO_AFTER: '2',
  };

  it('seeds family, worker and call centre on the pager; an SOS pages the family there; a restart on another port still pages', { timeout: 180_000 }, async () => {
    up = await runUp(env, quietLogger, () => {});
    expect(up.careDemo?.accounts.map((a) => a.role).sort()).toEqual(['callcentre', 'family', 'operator', 'worker']);
    const pager = up.pager!;
    const page = await eventually(() => pager.received.find((m) => m.kind === 'page' && m.path === '/page/family'), 'the family member paged on the demo pager', 60_000);
    expect(page.text).toMatch(/SOS/);
    expect(pager.refused).toBe(0);

    const base = `http://127.0.0.1:${up.httpPort}`;
    const alerts = await api<{ items: { id: string; status: string }[] }>(base, up.adminToken!, '/api/v1/alerts?limit=10');
    expect(alerts.body.items.find((a) => a.id === page.alertId)?.status).toBe('notifying');
    const metrics = await api<{ alerts_unreached: number }>(base, up.adminToken!, '/api/v1/metrics');
    expect(metrics.body.alerts_unreached).toBe(0);
    const adminToken = up.adminToken!;
    await up.close();

    // Second start of the same data directory: new ports, the pager channels follow.
    // The admin token is stored only as a hash: a later start that should re-point the demo
    // channels is given it, as an operator would.
    up = await runUp({ ...env, YULAN_ADMIN_TOKEN: adminToken }, quietLogger, () => {});
    expect(up.careDemo).toBeUndefined();
    const pager2 = up.pager!;
    expect(pager2.url).not.toBe(pager.url);
    // The second press merges into the open alert at the edge: whoever was paged hears of it.
    const again = await eventually(() => pager2.received.find((m) => m.kind === 'update' && m.path === '/page/family'), 'the new press reaches the family on the new pager', 60_000);
    expect(again.alertId).toBe(page.alertId);
    expect(pager2.refused).toBe(0);
    const people = await api<{ items: { login: string; channels: { type: string; address: string }[] }[] }>(`http://127.0.0.1:${up.httpPort}`, adminToken, '/api/v1/people');
    for (const login of ['family', 'worker', 'callcentre']) {
      const p = people.body.items.find((x) => x.login === login)!;
      expect(p.channels.map((c) => c.address)).toContain(`${pager2.url}/page/${login}`);
    }
  });
});
