import { describe, expect, it } from 'vitest';
import {
  lockCommandScanner, lockFrame, pmsAckFrame, pmsCommandScanner, pmsDataFrame, radarCommandScanner, radarFrame, sdsCommandScanner, sdsDataFrame,
} from '../src/serial/frames.js';

const hex = (b: ArrayLike<number>) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');

// The emulators' frames against the datasheet excerpts in serial-sensors.md, byte for byte.
describe('serial emulator frames', () => {
  it('PMS5003: the datasheet example frame and the command acknowledgement', () => {
    expect(hex(pmsDataFrame({ cf1: [0, 8, 8], atm: [0, 8, 8], counts: [210, 70, 45, 30, 0, 0] }, 0x97, 0)))
      .toBe('42 4d 00 1c 00 00 00 08 00 08 00 00 00 08 00 08 00 d2 00 46 00 2d 00 1e 00 00 00 00 97 00 02 c5');
    expect(hex(pmsAckFrame(0xe1, 0x00))).toBe('42 4d 00 04 e1 00 01 74');
  });

  it('SDS011 data frame: little-endian tenths, sum of bytes 2–7, AB tail', () => {
    expect(hex(sdsDataFrame(21.2, 50, 0x60a1))).toBe('aa c0 d4 00 f4 01 a1 60 ca ab') // d4+00+f4+01+a1+60 = 0x2ca;
  });

  it('MR60FDA1: the datasheet heart-rate report and heartbeat', () => {
    expect(hex(radarFrame(0x85, 0x02, [89]))).toBe('53 59 85 02 00 01 59 8d 54 43');
    expect(hex(radarFrame(0x01, 0x01, [0x0f]))).toBe('53 59 01 01 00 01 0f be 54 43');
  });

  it('lock board: the datasheet open frame', () => {
    expect(hex(lockFrame(1, 0x82, [1]))).toBe('57 4b 4c 59 09 01 82 01 82');
  });

  it('command scanners find commands split anywhere and drop ones with a bad checksum', () => {
    const pms = pmsCommandScanner();
    expect(pms.push(Uint8Array.from([0x00, 0x42, 0x4d, 0xe2]))).toEqual([]);
    expect(pms.push(Uint8Array.from([0x00, 0x00, 0x01, 0x71, 0x42, 0x4d, 0xe4, 0x00, 0x00, 0x01, 0x00]))).toEqual([[0x42, 0x4d, 0xe2, 0, 0, 1, 0x71]]);
    expect(pms.rejected).toBe(1);
    const sds = sdsCommandScanner();
    const query = [0xaa, 0xb4, 0x04, ...Array(12).fill(0), 0xff, 0xff, 0x02, 0xab];
    expect(sds.push(Uint8Array.from([...query.slice(0, 7)]))).toEqual([]);
    expect(sds.push(Uint8Array.from(query.slice(7)))).toEqual([query]);
    expect(radarCommandScanner().push(radarFrame(0x83, 0x0d, [2]))).toHaveLength(1);
    const bad = [...lockFrame(1, 0x84, [])];
    bad[7] = bad[7]! ^ 1;
    const lock = lockCommandScanner();
    expect(lock.push(Uint8Array.from([...bad, ...lockFrame(1, 0x83, [2])]))).toEqual([[...lockFrame(1, 0x83, [2])]]);
    expect(lock.rejected).toBe(1);
  });
});
