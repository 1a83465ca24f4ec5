import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runUp, type UpHandle } from '../src/up.js';
import { RawChargePoint } from '../../gateways/test/harness.js';
import { runInProcess } from './serial-support.js';
import { eventually, quietLogger, tempDir } from './support.js';

// `yulan up` with its OCPP gateway; the id tag list is managed with `yulan idtag` and a
// charger written from the spec (raw OCPP-J frames) is answered from it.
describe('yulan idtag against yulan up', () => {
  const tmp = tempDir('yulan-idtag-');
  let up: UpHandle;
  let env: NodeJS.ProcessEnv;
  let cp: RawChargePoint | undefined;

  beforeAll(async () => {
    up = await runUp({
      YULAN_DATA_DIR: tmp.dir, YULAN_MQTT_PORT: '0', YULAN_WS_PORT: '0', YULAN_HTTP_PORT: '0', YULAN_EDGE_HTTP_PORT: '0',
      YULAN_MQTT_HOST: '127.0.0.1', YULAN_HTTP_HOST: '127.0.0.1', YULAN_OCPP_PORT: '0', YULAN_SIM_OCPP: '0', YULAN_SIM_DEVICES: '1',
      YULAN_SIM_SITES: 'xuhui', YULAN_CARE_DEMO: '0', YULAN_SERIAL_DEMO: '0', YULAN_OCPP_ID_TAG_SYNC_S: '1',
    }, quietLogger, () => {});
    env = { YULAN_CLOUD_URL: `http://127.0.0.1:${up.httpPort}`, YULAN_ADMIN_TOKEN: up.adminToken! };
  });
  afterAll(async () => {
    cp?.close();
    await up?.close();
    tmp.cleanup();
  });

  it('add, list, block, expire, remove: the charger is told Accepted, Blocked, Expired, Invalid', async () => {
    const reg = await runInProcess(['device', 'add', '--site', 'xuhui', '--kind', 'ev-charger', '--id', 'CP-CLI'], env);
    expect(reg.code).toBe(0);
    const key = /secret: (\S+)/.exec(reg.stdout)![1]!;
    cp = await RawChargePoint.connect(`ws://127.0.0.1:${up.ocppPort}/ocpp`, 'CP-CLI', key);
    expect((await cp.call('BootNotification', { chargePointVendor: 'Acme', chargePointModel: 'AC22' }))[2]).toMatchObject({ status: 'Accepted' });
    const told = async (tag: string): Promise<string> => ((await cp!.call('Authorize', { idTag: tag }))[2] as { idTagInfo: { status: string } }).idTagInfo.status;

    const add = await runInProcess(['idtag', 'add', 'rfid-0042', '--parent', 'fleet', '--note', 'depot van 3'], env);
    expect(add.stderr).toBe('');
    expect(add.stdout).toContain('RFID-0042 listed for every site: Accepted');
    expect((await runInProcess(['idtag', 'add', 'RFID-0042'], env)).code).toBe(4);
    const bad = await runInProcess(['idtag', 'add', 'x', '--site', 'atlantis'], env);
    expect(bad.stderr).toContain('site "atlantis" is not registered and has no devices');
    await eventually(async () => ((await told('rfid-0042')) === 'Accepted' ? true : undefined), 'accepted at the charger');

    const list = JSON.parse((await runInProcess(['idtag', 'list', '--json'], env)).stdout) as { items: { tag: string; parentIdTag: string; note: string }[] };
    expect(list.items).toEqual([expect.objectContaining({ tag: 'RFID-0042', parentIdTag: 'FLEET', note: 'depot van 3' })]);

    expect((await runInProcess(['idtag', 'block', 'rfid-0042'], env)).stdout).toContain('blocked, chargers are told Blocked');
    await eventually(async () => ((await told('rfid-0042')) === 'Blocked' ? true : undefined), 'blocked at the charger (periodic sync)');
    await runInProcess(['idtag', 'unblock', 'rfid-0042'], env);
    expect((await runInProcess(['idtag', 'expire', 'rfid-0042'], env)).stdout).toContain('chargers are told Expired');
    await eventually(async () => ((await told('rfid-0042')) === 'Expired' ? true : undefined), 'expired at the charger');

    expect((await runInProcess(['idtag', 'remove', 'rfid-0042'], env)).code).toBe(0);
    expect((await runInProcess(['idtag', 'show', 'rfid-0042'], env)).code).toBe(4);
    await eventually(async () => ((await told('rfid-0042')) === 'Invalid' ? true : undefined), 'invalid at the charger');
    const audit = JSON.parse((await runInProcess(['idtag', 'audit', 'rfid-0042', '--json'], env)).stdout) as { items: { action: string }[] };
    expect(audit.items.map((a) => a.action)).toEqual(['remove', 'update', 'update', 'update', 'add']);
  });
});
