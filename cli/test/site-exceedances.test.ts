import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AirService, airConfig, type StoreRecord } from '../../edge/src/index.js';
import { ADMIN, H, openFixture, type OpenFixture } from '../../cloud/test/open-data-support.js';
import { runInProcess } from './serial-support.js';

const M = 60_000;
const iso = (ms: number): string => new Date(ms).toISOString();

// A real cloud over a real edge store in which the edge's air computation stored one
// site exceedance; the CLI runs in-process against the cloud's port.
describe('yulan site exceedances', () => {
  let fx: OpenFixture;
  let env: NodeJS.ProcessEnv;
  const T0 = Math.floor(Date.now() / H) * H - 10 * H;

  beforeAll(async () => {
    fx = await openFixture();
    const recs: StoreRecord[] = [];
    const f = (v: number) => ({ count: 6, min: v, max: v, mean: v, last: v });
    for (let t = T0; t < T0 + 8 * H; t += M) {
      const high = t >= T0 + 2 * H && t < T0 + 5 * H;
      recs.push({ type: 'aggregate', deviceId: 'env-1', site: 'xuhui', kind: 'env-monitor', windowStartMs: t, fields: { pm25_ugm3: f(high ? 150 : 20) } });
      recs.push({ type: 'aggregate', deviceId: 'env-3', site: 'xuhui', kind: 'env-monitor', windowStartMs: t, fields: { pm25_ugm3: f(20) } });
    }
    await fx.store.write(recs);
    const queued: StoreRecord[][] = [];
    await new AirService({
      store: fx.store, config: airConfig({ YULAN_AQI_ALERT_LEVEL: '100' }), emit: (r) => queued.push(r), logger: pino({ level: 'silent' }),
      monitors: () => [{ deviceId: 'env-1', site: 'xuhui' }, { deviceId: 'env-3', site: 'xuhui' }], settleMs: 11 * M, backfillHours: 10,
    }).run(T0 + 9 * H + 11 * M);
    for (const b of queued) await fx.store.write(b);
    const app = await fx.app();
    await app.listen({ host: '127.0.0.1', port: 0 });
    env = { YULAN_CLOUD_URL: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, YULAN_ADMIN_TOKEN: ADMIN };
  });
  afterAll(async () => fx?.close());

  it("lists a site's exceedances and every site's, with since, until and counts", async () => {
    const one = await runInProcess(['site', 'exceedances', 'xuhui'], env);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toMatch(new RegExp(`xuhui\\s+air\\.aqi_exceeded\\s+${iso(T0 + 2 * H)}\\s+${iso(T0 + 5 * H)}\\s+AQI peak 113 > 100`));
    expect(one.stdout).toContain('1 exceedance(s): 0 ongoing, 1 AQI, 0 noise');
    const all = JSON.parse((await runInProcess(['site', 'exceedances', '--json', '--from', iso(T0)], env)).stdout) as { sites: { site: string }[] };
    expect(all.sites.map((s) => s.site)).toEqual(['xuhui']);
    const open = await runInProcess(['site', 'exceedances', '--open'], env);
    expect(open.stdout).toContain('0 exceedance(s)');
  });

  it('an unknown site is the API error; extra arguments are a usage error', async () => {
    const none = await runInProcess(['site', 'exceedances', 'nowhere'], env);
    expect(none.code).toBe(4);
    expect(none.stderr).toMatch(/HTTP 404/);
    expect((await runInProcess(['site', 'exceedances', 'a', 'b'], env)).code).toBe(2);
  });
});
