import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { Channel, Command, CommandStatus, Presence, deviceTopic, kindFromSlug } from '@yulan/protos';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimErrorCode, runFleet, type FirmwareUpdateHook, type FleetOptions, type SimError } from '../src/index.js';
import { logger, startBroker, subscriber, until, type TestBroker } from './support.js';

/** A restarted simulator boots its devices on the firmware they installed (its data dir). */
describe('simulator firmware persistence', () => {
  let broker: TestBroker;
  let dir: string;
  beforeAll(async () => {
    broker = await startBroker(() => true);
    dir = await mkdtemp(join(tmpdir(), 'yulan-sim-fw-'));
  });
  afterAll(async () => {
    await broker.close();
    await rm(dir, { recursive: true, force: true });
  });
  // A stand-in for the download/verify/install module: switch and report.
  const install: FirmwareUpdateHook = (cmd, ctx) => {
    ctx.setFirmwareVersion(cmd.args.version ?? '');
    ctx.result(CommandStatus.SUCCEEDED, 'installed');
  };
  const opts = (dataDir: string): FleetOptions => ({
    kinds: ['ev-charger'], countPerKind: 0, sites: ['s1'], ratePerDevice: 1, qos: 0, mqttUrl: broker.url, seed: 1,
    firmwareVersion: '1.0.0', devices: [{ id: 'ev-a', site: 's1', kind: 'ev-charger', secret: 'x' }, { id: 'ev-b', site: 's1', kind: 'ev-charger', secret: 'x' }],
    onFirmwareUpdate: install, dataDir,
  });
  const kind = kindFromSlug('ev-charger')!;

  it('keeps an installed version across a restart; other devices keep the start version', async () => {
    const data = join(dir, 'sim');
    const fleet = await runFleet(opts(data), logger);
    await fleet.ready();
    const client = await mqtt.connectAsync(broker.url, { username: 'ops', password: 'x' });
    await client.publishAsync(deviceTopic({ site: 's1', kind, deviceId: 'ev-a' }, Channel.Command), Buffer.from(Command.encode({
      commandId: 'fw-1', name: 'firmware.update', args: { version: '2.0.0' }, issuedMs: Date.now(), expiresMs: Date.now() + 60_000,
    })), { qos: 1 });
    await until(() => {
      try { return JSON.parse(readFileSync(join(data, 'firmware.json'), 'utf8')).versions['ev-a'] === '2.0.0'; } catch { return false; }
    }, 'version written');
    await fleet.close();
    await client.endAsync();

    const again = await runFleet(opts(data), logger);
    expect(again.devices.map((d) => [d.id, d.firmwareVersion])).toEqual([['ev-a', '2.0.0'], ['ev-b', '1.0.0']]);
    const sub = await subscriber(broker.url, [deviceTopic({ site: 's1', kind, deviceId: 'ev-a' }, Channel.Presence)]);
    await until(() => sub.messages.some((m) => { const p = Presence.decode(m.payload); return p.online && p.firmwareVersion === '2.0.0'; }), 'birth on 2.0.0');
    await again.close();
    await sub.client.endAsync();
  });

  it('a corrupt firmware.json is a clear error, not a silent reset', async () => {
    const data = join(dir, 'bad');
    await runFleet(opts(data), logger).then((f) => f.close());
    await writeFile(join(data, 'firmware.json'), '{not json');
    const err = await runFleet(opts(data), logger).then(() => undefined, (e: unknown) => e as SimError);
    expect(err?.code).toBe(SimErrorCode.BadOptions);
    expect(err?.message).toMatch(/firmware\.json is not valid JSON/);
  });
});
