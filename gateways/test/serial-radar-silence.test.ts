import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Mr60fda1Emulator, type PtyPair } from '../../device-sims/src/serial/index.js';
import { RadarDriver, configProblems } from '../src/serial/index.js';
import { eventually, pty, quietLogger, socatAvailable, tempDir } from './serial-support.js';

// A radar that hangs with its adapter still plugged: the port stays open, only the frames stop.
describe.skipIf(!socatAvailable())('MR60FDA1 that goes silent on an open port', () => {
  const tmp = tempDir('yulan-serial-silent-');
  const open: { pair: PtyPair; emu: Mr60fda1Emulator; drv: RadarDriver }[] = [];
  afterEach(async () => {
    for (const o of open.splice(0)) { await o.drv.close(); await o.emu.close(); await o.pair.unplug(); }
  });
  afterAll(() => tmp.cleanup());

  it('is marked offline (reason serial-silent) without a disconnect, and online again with its settings re-applied when it talks', async () => {
    const pair = await pty(tmp.dir, 'silent');
    const emu = new Mr60fda1Emulator({ path: pair.device, movementIntervalMs: 100 });
    await emu.start();
    const states: { up: boolean; reason?: string | undefined }[] = [];
    const drv = new RadarDriver({ port: pair.host, heartbeatMs: 100, silenceMs: 600, backoff: { minBackoffMs: 50, maxBackoffMs: 400 } },
      { online: (up, reason) => states.push({ up, reason }), report: () => {} }, quietLogger);
    open.push({ pair, emu, drv });
    drv.start();
    await eventually(() => drv.heartbeatsAnswered >= 2, 'heartbeat answers');
    expect(await drv.setSensitivity(10)).toBe(3);
    expect(drv.online).toBe(true);

    emu.goSilent();
    await eventually(() => states.at(-1)?.up === false, 'offline while silent');
    expect(states.at(-1)?.reason).toBe('serial-silent');
    expect(drv.online).toBe(false);
    expect(drv.silences).toBe(1);
    expect(drv.status()).toMatchObject({ online: false, silences: 1, port: { disconnects: 0 } });
    expect(emu.attached).toBe(true);

    // The module power-cycled meanwhile: it comes back with its default sensitivity.
    emu.sensitivity = 0;
    const answered = drv.heartbeatsAnswered;
    emu.resume();
    await eventually(() => states.at(-1)?.up === true, 'online again when frames return');
    await eventually(() => drv.heartbeatsAnswered > answered, 'heartbeats answered again');
    expect(drv.online).toBe(true);
    expect(drv.status().online).toBe(true);
    await eventually(() => emu.sensitivity === 3, 'sensitivity re-applied after the silence');

    // Silent a second time: detected again (the watchdog is re-armed, not one-shot).
    emu.goSilent();
    await eventually(() => drv.silences === 2 && !drv.online, 'second silence');
    emu.resume();
    await eventually(() => drv.online, 'back again');
    expect(states.map((s) => s.up)).toEqual([true, false, true, false, true]);
  });

  it('silenceS is a radar-only setting', () => {
    const base = { mqttUrl: 'mqtt://127.0.0.1:1883', credentialsFile: 'c.json' };
    expect(configProblems({ ...base, devices: [{ id: 'f1', site: 's', kind: 'fall-sensor', sensor: 'mr60fda1', port: '/dev/a', silenceS: 5 }] })).toEqual([]);
    expect(configProblems({ ...base, devices: [{ id: 'e1', site: 's', kind: 'env-monitor', sensor: 'pms5003', port: '/dev/a', silenceS: 5 }] }))
      .toEqual(['devices[0].silenceS: applies to the fall radar only']);
    expect(configProblems({ ...base, devices: [{ id: 'f1', site: 's', kind: 'fall-sensor', sensor: 'mr60fda1', port: '/dev/a', silenceS: 0 }] })).toHaveLength(1);
  });
});
