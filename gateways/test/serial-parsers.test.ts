import { describe, expect, it } from 'vitest';
import {
  LockBoardParser, PmsParser, RadarParser, SdsParser, encodeLockFrame, encodePmsCommand, encodeRadarFrame,
  encodeSdsCommand, lockCommands, pmsCommands, radarCommands, radarSensitivityFromTwin, sdsCommands,
} from '../src/serial/protocols/index.js';

const hex = (s: string) => Uint8Array.from(s.trim().split(/\s+/).map((x) => parseInt(x, 16)));
const toHex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(' ');

// The domain file's example frame: PM2.5 atmospheric = 8 µg/m³, checksum 0x02C5.
const PMS_EXAMPLE = '42 4d 00 1c 00 00 00 08 00 08 00 00 00 08 00 08 00 d2 00 46 00 2d 00 1e 00 00 00 00 97 00 02 c5';

describe('PMS5003', () => {
  it('decodes the datasheet frame: CF=1, atmospheric, counts, version', () => {
    const p = new PmsParser();
    expect(p.push(hex(PMS_EXAMPLE))).toEqual([{
      type: 'reading', cf1: { pm1: 0, pm25: 8, pm10: 8 }, atm: { pm1: 0, pm25: 8, pm10: 8 },
      counts: [210, 70, 45, 30, 0, 0], version: 0x97, errorCode: 0,
    }]);
    expect(p.stats).toEqual({ frames: 1, checksumErrors: 0, lengthErrors: 0, garbageBytes: 0 });
  });

  it('encodes the five commands exactly as the datasheet', () => {
    expect(toHex(pmsCommands.active())).toBe('42 4d e1 00 01 01 71');
    expect(toHex(pmsCommands.passive())).toBe('42 4d e1 00 00 01 70');
    expect(toHex(pmsCommands.read())).toBe('42 4d e2 00 00 01 71');
    expect(toHex(pmsCommands.sleep())).toBe('42 4d e4 00 00 01 73');
    expect(toHex(pmsCommands.wake())).toBe('42 4d e4 00 01 01 74');
    expect(encodePmsCommand(0xe1, 0x0100)[3]).toBe(1);
  });

  it('accepts the 8-byte command acknowledgement', () => {
    expect(new PmsParser().push(hex('42 4d 00 04 e1 00 01 74'))).toEqual([{ type: 'ack', command: 0xe1, data: 0 }]);
  });

  it('starts mid-frame, resyncs after garbage, counts a bad checksum and a bad length', () => {
    const p = new PmsParser();
    const frame = hex(PMS_EXAMPLE);
    const bad = frame.slice();
    bad[13] = 9; // PM2.5 atm 9, checksum unchanged
    const badLen = hex('42 4d 00 63 01 02');
    const stream = new Uint8Array([...frame.slice(11), 0x00, 0x42, 0xff, ...bad, ...badLen, ...frame]);
    expect(p.push(stream).map((r) => r.type === 'reading' && r.atm.pm25)).toEqual([8]);
    expect(p.stats.checksumErrors).toBe(1);
    expect(p.stats.lengthErrors).toBe(1);
    expect(p.stats.garbageBytes).toBeGreaterThan(0);
  });
});

describe('SDS011', () => {
  it('decodes a data frame (little-endian, tenths) and the reply frames', () => {
    // PM2.5 = 0x00D4 / 10 = 21.2, PM10 = 0x01F4 / 10 = 50.0, id A1 60.
    const body = [0xd4, 0x00, 0xf4, 0x01, 0xa1, 0x60];
    const sum = body.reduce((a, b) => a + b, 0) & 0xff;
    const p = new SdsParser();
    expect(p.push(Uint8Array.from([0xaa, 0xc0, ...body, sum, 0xab]))).toEqual([{ type: 'reading', pm25: 21.2, pm10: 50, deviceId: 0x60a1 }]);
    const reply = [0x02, 0x01, 0x01, 0x00, 0xa1, 0x60];
    expect(p.push(Uint8Array.from([0xaa, 0xc5, ...reply, reply.reduce((a, b) => a + b, 0) & 0xff, 0xab])))
      .toEqual([{ type: 'reply', command: 2, set: true, value: 1, deviceId: 0x60a1 }]);
    const fw = [0x07, 0x12, 0x07, 0x13, 0xa1, 0x60];
    expect(p.push(Uint8Array.from([0xaa, 0xc5, ...fw, fw.reduce((a, b) => a + b, 0) & 0xff, 0xab])))
      .toEqual([{ type: 'firmware', year: 18, month: 7, day: 19, deviceId: 0x60a1 }]);
  });

  it('encodes 19-byte commands (sum of bytes 2–16)', () => {
    // Nova's protocol sheet example: set query mode, all sensors.
    expect(toHex(sdsCommands.setReportingMode('query'))).toBe('aa b4 02 01 01 00 00 00 00 00 00 00 00 00 00 ff ff 02 ab');
    expect(toHex(sdsCommands.query())).toBe('aa b4 04 00 00 00 00 00 00 00 00 00 00 00 00 ff ff 02 ab');
    expect(toHex(sdsCommands.sleep())).toBe('aa b4 06 01 00 00 00 00 00 00 00 00 00 00 00 ff ff 05 ab');
    expect(toHex(sdsCommands.setWorkingPeriod(1))).toBe('aa b4 08 01 01 00 00 00 00 00 00 00 00 00 00 ff ff 08 ab');
    expect(encodeSdsCommand(0x04, [], 0x60a1).slice(15, 17)).toEqual(Uint8Array.from([0xa1, 0x60]));
  });

  it('treats a lone AA as data, not an error; counts a wrong tail and a bad sum', () => {
    const p = new SdsParser();
    const good = Uint8Array.from([0xaa, 0xc0, 1, 0, 2, 0, 3, 4, 10, 0xab]);
    const badSum = Uint8Array.from([0xaa, 0xc0, 1, 0, 2, 0, 3, 4, 11, 0xab]);
    const badTail = Uint8Array.from([0xaa, 0xc0, 1, 0, 2, 0, 3, 4, 10, 0xac]);
    expect(p.push(Uint8Array.from([0xaa, 0x01, ...badSum, ...badTail, ...good]))).toHaveLength(1);
    expect(p.stats).toMatchObject({ frames: 1, checksumErrors: 1, lengthErrors: 1 });
  });
});

describe('MR60FDA1', () => {
  it('pins the datasheet frames: heartbeat and the 89 bpm heart-rate report', () => {
    expect(toHex(radarCommands.heartbeat())).toBe('53 59 01 01 00 01 0f be 54 43');
    expect(new RadarParser().push(hex('53 59 85 02 00 01 59 8d 54 43'))).toEqual([{ type: 'heart-rate', bpm: 89 }]);
  });

  it('interprets presence, motion, body movement, fall and dwell reports', () => {
    const p = new RadarParser();
    const frames = [[0x80, 1, 1], [0x80, 2, 2], [0x80, 3, 37], [0x83, 1, 1], [0x83, 5, 1], [0x83, 1, 0], [0x81, 2, 16]]
      .map(([c, k, v]) => encodeRadarFrame(c!, k!, [v!]));
    expect(p.push(Uint8Array.from(frames.flatMap((f) => [...f])))).toEqual([
      { type: 'presence', present: true }, { type: 'motion', motion: 'moving' }, { type: 'body-movement', level: 37 },
      { type: 'fall', fall: true }, { type: 'dwell', dwelling: true }, { type: 'fall', fall: false }, { type: 'breathing-rate', perMin: 16 },
    ]);
  });

  it('counts a wrong tail as a length error and a too-long length field', () => {
    const p = new RadarParser();
    const f = encodeRadarFrame(0x83, 1, [1]);
    const noTail = f.slice();
    noTail[9] = 0x00;
    expect(p.push(Uint8Array.from([...noTail, ...hex('53 59 80 01 7f ff'), ...f]))).toEqual([{ type: 'fall', fall: true }]);
    expect(p.stats.lengthErrors).toBe(2);
  });

  it('maps the twin sensitivity 1..10 onto the radar 0..3', () => {
    expect([1, 4, 5, 7, 10].map(radarSensitivityFromTwin)).toEqual([0, 1, 1, 2, 3]);
    expect(toHex(radarCommands.setFallSensitivity(2))).toBe('53 59 83 0d 00 01 02 3f 54 43');
  });
});

describe('lock board', () => {
  it('encodes the datasheet open frame and decodes replies and door reports', () => {
    expect(toHex(lockCommands.open(1, 1))).toBe('57 4b 4c 59 09 01 82 01 82');
    const p = new LockBoardParser();
    const frames = [
      encodeLockFrame(1, 0x82, [0x00, 1, 0x00]),
      encodeLockFrame(1, 0x85, [1, 0x01]),
      encodeLockFrame(1, 0x84, [0x00, 3, 0x01, 0x00, 0x01]),
      encodeLockFrame(2, 0x83, [0xff, 4, 0x01]),
      encodeLockFrame(2, 0x86, [0x00]),
    ];
    expect(p.push(Uint8Array.from(frames.flatMap((f) => [...f])))).toEqual([
      { type: 'open', address: 1, ok: true, channel: 1, doorOpen: true },
      { type: 'door-report', address: 1, channel: 1, doorOpen: false },
      { type: 'status-all', address: 1, ok: true, doorsOpen: [false, true, false] },
      { type: 'status', address: 2, ok: false, channel: 4, doorOpen: false },
      { type: 'open-all', address: 2, ok: true },
    ]);
  });

  it('counts XOR and length errors and recovers', () => {
    const p = new LockBoardParser();
    const f = encodeLockFrame(1, 0x85, [3, 0x00]);
    const bad = f.slice();
    bad[8] = bad[8]! ^ 0x10;
    expect(p.push(Uint8Array.from([0x59, ...bad, ...hex('57 4b 4c 59 02'), ...f]))).toEqual([{ type: 'door-report', address: 1, channel: 3, doorOpen: true }]);
    expect(p.stats).toMatchObject({ frames: 1, checksumErrors: 1, lengthErrors: 1 });
  });
});
