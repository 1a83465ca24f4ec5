import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFleet, SimErrorCode, type FleetHandle, type FleetOptions } from '@yulan/device-sims';
import { runUp, type UpHandle } from '../src/up.js';
import { runInProcess } from './serial-support.js';
import { api, eventually, quietLogger, tempDir } from './support.js';

interface TelemetryPoint { ts: string; fields: Record<string, unknown> }
interface DeviceView { id: string; site: string; kind: string; status: string }

// The whole path of a claim-provisioned device as `yulan up` runs it: `yulan claim add`,
// simulated devices that only know the claim → broker → cloud → their own identity →
// reconnect with it → telemetry stored at the edge.
describe('yulan up: simulated devices provisioned by claim', () => {
  const tmp = tempDir('yulan-up-claim-');
  let up: UpHandle;
  let env: NodeJS.ProcessEnv;
  let base: string;
  let token: string;
  let fleet: FleetHandle | undefined;
  let secret: string;
  const credentialsFile = path.join(tmp.dir, 'sim-claim-credentials.json');
  const fleetOptions = (ids: string[]): FleetOptions => ({
    kinds: ['env-monitor'], countPerKind: 1, sites: ['lab'], ratePerDevice: 2, qos: 1, seed: 7,
    mqttUrl: `mqtt://127.0.0.1:${up.mqttPort}`, credentialsFile, claim: { id: 'env-batch-1', secret },
    // the fleet says "lab"; the claim's site wins, as it would for a real device
    devices: ids.map((id) => ({ id, site: 'lab', kind: 'env-monitor' as const })),
  });

  beforeAll(async () => {
    up = await runUp({
      YULAN_DATA_DIR: tmp.dir, YULAN_MQTT_PORT: '0', YULAN_WS_PORT: '0', YULAN_HTTP_PORT: '0', YULAN_EDGE_HTTP_PORT: '0', YULAN_DEMO_PAGER_PORT: '0',
      YULAN_MQTT_HOST: '127.0.0.1', YULAN_HTTP_HOST: '127.0.0.1', YULAN_SIM_DEVICES: '0', YULAN_CARE_DEMO: '0',
    }, quietLogger, () => undefined);
    base = `http://127.0.0.1:${up.httpPort}`;
    token = up.adminToken!;
    env = { YULAN_CLOUD_URL: base, YULAN_ADMIN_TOKEN: token };
  });
  afterAll(async () => {
    await fleet?.close();
    await up?.close();
    tmp.cleanup();
  });

  it('yulan claim add, then devices exchange it for their identity, reconnect with it and their telemetry is stored', async () => {
    const added = await runInProcess(['claim', 'add', 'env-batch-1', '--kind', 'env-monitor', '--site', 'xuhui', '--count', '2', '--days', '7', '--json'], env);
    expect(added.stderr).toBe('');
    secret = (JSON.parse(added.stdout) as { secret: string }).secret;

    fleet = await runFleet(fleetOptions(['SN-0001', 'SN-0002']), quietLogger);
    expect(await fleet.ready()).toEqual({ connected: 2, failed: 0 });
    expect(fleet.devices.map((d) => [d.id, d.site, d.kind])).toEqual([['SN-0001', 'xuhui', 'env-monitor'], ['SN-0002', 'xuhui', 'env-monitor']]);
    const raw = await eventually(async () => {
      const r = await api<{ points: TelemetryPoint[] }>(base, token, '/api/v1/devices/SN-0002/telemetry?resolution=raw&fields=pm25_ugm3');
      return r.status === 200 && r.body.points.length >= 2 ? r.body.points : undefined;
    }, 'stored telemetry of a claim-provisioned device');
    expect(typeof raw[0]!.fields.pm25_ugm3).toBe('number');
    const dev = await api<DeviceView>(base, token, '/api/v1/devices/SN-0001');
    expect(dev.body).toMatchObject({ id: 'SN-0001', site: 'xuhui', kind: 'env-monitor' });

    const shown = await runInProcess(['claim', 'show', 'env-batch-1', '--json'], env);
    const body = JSON.parse(shown.stdout) as { claim: { usedCount: number; status: string }; uses: { serial: string }[] };
    expect(body.claim).toMatchObject({ usedCount: 2, status: 'used-up' });
    expect(body.uses.map((u) => u.serial).sort()).toEqual(['SN-0001', 'SN-0002']);
    await fleet.close();
    fleet = undefined;
  });

  it('a restarted simulator keeps its identities (no second exchange); a third device is refused and the refusal is listed', async () => {
    const before = (JSON.parse((await runInProcess(['claim', 'refusals', '--json'], env)).stdout) as { items: unknown[] }).items.length;
    fleet = await runFleet(fleetOptions(['SN-0001', 'SN-0002']), quietLogger);
    expect(await fleet.ready()).toEqual({ connected: 2, failed: 0 });
    await fleet.close();
    fleet = undefined;
    await expect(runFleet(fleetOptions(['SN-0001', 'SN-0003']), quietLogger)).rejects.toMatchObject({ code: SimErrorCode.ClaimRefused, message: expect.stringMatching(/exhausted/) });
    const refusals = JSON.parse((await runInProcess(['claim', 'refusals', '--json'], env)).stdout) as { items: { claimId: string; serial: string; detail: string }[] };
    expect(refusals.items).toHaveLength(before + 1);
    expect(refusals.items[0]).toMatchObject({ claimId: 'env-batch-1', serial: 'SN-0003', detail: expect.stringMatching(/^exhausted/) });
    const table = await runInProcess(['claim', 'list'], env);
    expect(table.stdout).toMatch(/env-batch-1\s+env-monitor\s+xuhui\s+2\/2\s+used-up/);
  });
});
