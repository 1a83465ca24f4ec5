import { ByteLengthParser, PacketLengthParser } from 'serialport';
import {
  LockBoardParser, PmsParser, RadarParser, SdsParser, encodeLockFrame, encodeRadarFrame,
} from '@yulan/gateways';

/**
 * Frames parsed per second on one core, per protocol: Yulan's parsers (frame finding,
 * checksum, resync, decoding into values) against serialport's own framing parsers
 * (fixed length / length field; no checksum, no resync, no decoding) on the same bytes,
 * fed in 64-byte reads as a USB-serial adapter delivers them.
 */

function pmsFrame(i: number): Uint8Array {
  const b = new Uint8Array(32);
  b.set([0x42, 0x4d, 0x00, 0x1c]);
  for (let k = 0; k < 13; k++) { const w = (i * 7 + k * 13) & 0x3ff; b[4 + 2 * k] = w >> 8; b[5 + 2 * k] = w & 0xff; }
  let s = 0;
  for (let k = 0; k < 30; k++) s += b[k]!;
  b[30] = (s >> 8) & 0xff;
  b[31] = s & 0xff;
  return b;
}
function sdsFrame(i: number): Uint8Array {
  const body = [i & 0xff, (i >> 8) & 0x03, (i * 3) & 0xff, 0x01, 0xa1, 0x60];
  return Uint8Array.from([0xaa, 0xc0, ...body, body.reduce((a, x) => a + x, 0) & 0xff, 0xab]);
}
const radarFrame = (i: number) => encodeRadarFrame(0x80, 0x03, [i & 0x7f]);
const lockFrame = (i: number) => encodeLockFrame(1, 0x85, [1 + (i % 24), i & 1]);

function stream(make: (i: number) => Uint8Array, n: number): { chunks: Uint8Array[]; frames: number; bytes: number } {
  const all: number[] = [];
  for (let i = 0; i < n; i++) all.push(...make(i));
  const buf = Uint8Array.from(all);
  const chunks: Uint8Array[] = [];
  for (let o = 0; o < buf.length; o += 64) chunks.push(buf.subarray(o, o + 64));
  return { chunks, frames: n, bytes: buf.length };
}

function rate(run: () => number, frames: number, minMs = 1500): number {
  run(); // warm-up
  let done = 0;
  const t0 = process.hrtime.bigint();
  let ms = 0;
  while (ms < minMs) {
    const got = run();
    if (got !== frames) throw new Error(`parsed ${got} of ${frames} frames`);
    done += got;
    ms = Number(process.hrtime.bigint() - t0) / 1e6;
  }
  return (done / ms) * 1000;
}

/** The peer's parsing core, called directly (its Transform stream would add async hand-offs
 * that are not parsing): `_transform` per read, `push` counted. */
interface TransformCore { _transform(chunk: Buffer, enc: string, cb: () => void): void; push(b: unknown): boolean }
function peerRate(make: () => unknown, chunks: Uint8Array[], frames: number, minMs: number): number {
  const bufs = chunks.map((c) => Buffer.from(c));
  return rate(() => {
    const p = make() as TransformCore;
    let n = 0;
    p.push = () => { n++; return true; };
    for (const b of bufs) p._transform(b, 'buffer', () => {});
    return n;
  }, frames, minMs);
}

export interface ParseRow { protocol: string; frameBytes: number; yulan: number; peer: number; peerName: string }

export function measureParsing(framesPerRun = 20_000, minMs = 1500): ParseRow[] {
  const rows: ParseRow[] = [];
  const cases = [
    { protocol: 'PMS5003', make: pmsFrame, parser: () => new PmsParser(), peerName: 'ByteLengthParser(32)', peer: () => new ByteLengthParser({ length: 32 }) },
    { protocol: 'SDS011', make: sdsFrame, parser: () => new SdsParser(), peerName: 'ByteLengthParser(10)', peer: () => new ByteLengthParser({ length: 10 }) },
    {
      protocol: 'MR60FDA1', make: radarFrame, parser: () => new RadarParser(), peerName: 'PacketLengthParser',
      // PacketLengthParser reads its delimiter little-endian over the bytes in reverse arrival order.
      peer: () => new PacketLengthParser({ delimiter: [0x5359], delimiterBytes: 2, lengthOffset: 5, lengthBytes: 1, packetOverhead: 9 }),
    },
    {
      protocol: 'lock board', make: lockFrame, parser: () => new LockBoardParser(), peerName: 'PacketLengthParser',
      peer: () => new PacketLengthParser({ delimiter: [0x574b4c59], delimiterBytes: 4, lengthOffset: 4, lengthBytes: 1, packetOverhead: 0 }),
    },
  ];
  for (const c of cases) {
    const s = stream(c.make, framesPerRun);
    const yulan = rate(() => {
      const p = c.parser();
      let n = 0;
      for (const ch of s.chunks) n += p.push(ch).length;
      return n;
    }, s.frames, minMs);
    const peer = peerRate(c.peer, s.chunks, s.frames, minMs);
    rows.push({ protocol: c.protocol, frameBytes: s.bytes / s.frames, yulan, peer, peerName: c.peerName });
  }
  return rows;
}
