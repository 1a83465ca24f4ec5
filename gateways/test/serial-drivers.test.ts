import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { LockBoardEmulator, Mr60fda1Emulator, Pms5003Emulator, Sds011Emulator, type PtyPair, type SerialEmulator } from '../../device-sims/src/serial/index.js';
import { LockBoardDriver, PmDriver, RadarDriver, type PmSample, type RadarState, type SerialDriver } from '../src/serial/index.js';
import { eventually, pty, quietLogger, socatAvailable, tempDir } from './serial-support.js';

// Drivers against the emulators through socat ptys and the real serialport package, as with hardware.
describe.skipIf(!socatAvailable())('serial drivers over a pty', () => {
  const tmp = tempDir('yulan-serial-drv-');
  const open: { pair?: PtyPair; emu?: SerialEmulator; drv?: SerialDriver }[] = [];
  afterEach(async () => {
    for (const o of open.splice(0)) { await o.drv?.close(); await o.emu?.close(); await o.pair?.unplug(); }
  });
  afterAll(() => tmp.cleanup());
  const backoff = { minBackoffMs: 50, maxBackoffMs: 400 };

  it('PMS5003 passive: sets passive mode, polls, survives garbage and a bad checksum, and counts them', async () => {
    const pair = await pty(tmp.dir, 'pms');
    const emu = new Pms5003Emulator({ path: pair.device, intervalMs: 100 });
    emu.set([11, 23, 31]);
    await emu.start();
    const samples: PmSample[] = [];
    const drv = new PmDriver({ sensor: 'pms5003', port: pair.host, mode: 'passive', intervalMs: 200, dutyCycle: false, settleMs: 0, backoff },
      { online: () => {}, sample: (s) => samples.push(s) }, quietLogger);
    open.push({ pair, emu, drv });
    drv.start();
    await eventually(() => samples.length >= 2, 'two polled samples');
    expect(emu.mode).toBe('passive');
    expect(emu.received.slice(0, 2)).toEqual(['passive', 'read']);
    expect(samples[0]).toMatchObject({ pm1: 11, pm25: 23, pm10: 31 });

    emu.injectGarbage(Uint8Array.from([0x42, 0x00, 0x4d, 0x13, 0x37]));
    emu.corruptNext();
    emu.set([1, 2, 3]);
    await eventually(() => samples.some((s) => s.pm25 === 2), 'a sample after the corrupted frame');
    expect(drv.status().frames.checksumErrors).toBe(1);
    expect(drv.status().frames.garbageBytes).toBeGreaterThan(0);
  });

  it('PMS5003 duty cycle: sleeps between readings and wakes before the next', async () => {
    const pair = await pty(tmp.dir, 'duty');
    const emu = new Pms5003Emulator({ path: pair.device, intervalMs: 50, wakeSettleMs: 100 });
    await emu.start();
    const samples: PmSample[] = [];
    const drv = new PmDriver({ sensor: 'pms5003', port: pair.host, mode: 'passive', intervalMs: 600, dutyCycle: true, settleMs: 200, backoff },
      { online: () => {}, sample: (s) => samples.push(s) }, quietLogger);
    open.push({ pair, emu, drv });
    drv.start();
    await eventually(() => samples.length >= 2, 'two duty-cycled samples');
    const seq = emu.received.join(' ');
    expect(seq).toMatch(/read sleep wake read sleep/);
  });

  it('a port that disappears (socat killed) marks the device offline and is reopened when it returns', async () => {
    const pair = await pty(tmp.dir, 'unplug');
    const emu = new Pms5003Emulator({ path: pair.device, intervalMs: 100 });
    await emu.start();
    const samples: PmSample[] = [];
    const states: boolean[] = [];
    const drv = new PmDriver({ sensor: 'pms5003', port: pair.host, mode: 'passive', intervalMs: 200, dutyCycle: false, settleMs: 0, backoff },
      { online: (up) => states.push(up), sample: (s) => samples.push(s) }, quietLogger);
    open.push({ pair, emu, drv });
    drv.start();
    await eventually(() => samples.length >= 1, 'polled samples');
    await pair.unplug();
    await eventually(() => states.at(-1) === false, 'offline after unplug');
    expect(drv.online).toBe(false);
    const before = samples.length;
    const back = emu.nextAttach();
    await pair.replug();
    await back;
    // The re-plugged module power-cycled into active mode: the driver puts it back in passive.
    await eventually(() => states.at(-1) === true && samples.length > before + 1 && emu.mode === 'passive', 'online, passive again, polled after replug');
    expect(emu.stats.attaches).toBe(2);
    expect(drv.status().port.disconnects).toBe(1);
  });

  it('SDS011 query mode: sets it, wakes the sensor, and polls', async () => {
    const pair = await pty(tmp.dir, 'sds');
    const emu = new Sds011Emulator({ path: pair.device, intervalMs: 100 });
    emu.pm25 = 35.4;
    await emu.start();
    const samples: PmSample[] = [];
    const drv = new PmDriver({ sensor: 'sds011', port: pair.host, mode: 'passive', intervalMs: 200, dutyCycle: false, settleMs: 0, backoff },
      { online: () => {}, sample: (s) => samples.push(s) }, quietLogger);
    open.push({ pair, emu, drv });
    drv.start();
    await eventually(() => samples.length >= 1, 'an SDS011 sample');
    expect(samples[0]).toMatchObject({ pm25: 35.4, pm10: 20.5 });
    expect(emu.reporting).toBe('query');
    expect(emu.received.slice(0, 5)).toEqual(['work', 'period:0', 'mode:query', 'firmware', 'query']);
    expect(drv.moduleFirmware).toEqual({ version: '2018-11-16', moduleId: '60A1' });
    expect(drv.status().moduleFirmware).toBe('2018-11-16');
  });

  it('SDS011: a lost firmware answer is asked again until the module answers', async () => {
    const pair = await pty(tmp.dir, 'sdsfw');
    const emu = new Sds011Emulator({ path: pair.device, intervalMs: 100, firmware: [22, 7, 1] });
    await emu.start();
    // The module is hung when the port opens: the mode commands and the firmware request are lost.
    emu.goSilent();
    const samples: PmSample[] = [];
    const drv = new PmDriver({ sensor: 'sds011', port: pair.host, mode: 'passive', intervalMs: 200, dutyCycle: false, settleMs: 0, backoff },
      { online: () => {}, sample: (s) => samples.push(s) }, quietLogger);
    open.push({ pair, emu, drv });
    drv.start();
    await eventually(() => drv.timeouts >= 1, 'an unanswered query');
    expect(drv.moduleFirmware).toBeUndefined();
    emu.resume();
    await eventually(() => samples.length >= 1 && drv.moduleFirmware !== undefined, 'a sample and the firmware after the module recovers');
    expect(drv.moduleFirmware).toEqual({ version: '2022-07-01', moduleId: '60A1' });
    expect(emu.reporting).toBe('query');
    expect(emu.received.filter((r) => r === 'firmware').length).toBeGreaterThanOrEqual(1);
  });

  it('MR60FDA1: heartbeat answered, sensitivity echoed, fall and dwell followed', async () => {
    const pair = await pty(tmp.dir, 'radar');
    const emu = new Mr60fda1Emulator({ path: pair.device, movementIntervalMs: 100 });
    await emu.start();
    const states: RadarState[] = [];
    const drv = new RadarDriver({ port: pair.host, heartbeatMs: 200, backoff }, { online: () => {}, report: (s) => states.push(s) }, quietLogger);
    open.push({ pair, emu, drv });
    drv.start();
    await eventually(() => drv.heartbeatsAnswered >= 1, 'a heartbeat answer');
    expect(await drv.setSensitivity(10)).toBe(3);
    expect(emu.sensitivity).toBe(3);
    emu.fall();
    emu.dwell();
    await eventually(() => states.some((s) => s.fall && s.dwell), 'fall then dwell');
    emu.recover();
    await eventually(() => states.at(-1)?.fall === false && states.at(-1)?.motion === 'moving', 'recovered');
  });

  it('lock board: open is done only when the door sensor shows it open; a jammed latch fails', async () => {
    const pair = await pty(tmp.dir, 'lock');
    const emu = new LockBoardEmulator({ path: pair.device, address: 3, channels: 4, jammed: [4] });
    await emu.start();
    const seen: (boolean | undefined)[][] = [];
    const drv = new LockBoardDriver({ port: pair.host, address: 3, channels: 4, backoff }, { online: () => {}, doors: (d) => seen.push(d) }, quietLogger);
    open.push({ pair, emu, drv });
    drv.start();
    await eventually(() => drv.doors.every((d) => d === false), 'initial door states');
    await drv.open(2);
    expect(drv.doors).toEqual([false, true, false, false]);
    expect(emu.doorsOpen[1]).toBe(true);
    await expect(drv.open(4)).rejects.toMatchObject({ code: 'E_LOCK_REFUSED' });
    await expect(drv.open(9)).rejects.toMatchObject({ code: 'E_LOCK_CHANNEL' });
    emu.setDoor(2, false);
    await eventually(() => drv.doors[1] === false, 'door closed report');
    // Opening the same door again works the same way (the next visit).
    await drv.open(2);
    expect(emu.received.filter((r) => r === 'open:2')).toHaveLength(2);
  });
});
