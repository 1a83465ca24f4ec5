/**
 * The device side of the four serial protocols (serial-sensors.md), written separately from
 * the gateway's parsers on purpose: the emulators follow the datasheet byte for byte, so a
 * test through them checks the gateway against the datasheet, not against itself.
 */

const sum = (b: ArrayLike<number>, from: number, to: number): number => {
  let s = 0;
  for (let i = from; i < to; i++) s += b[i] ?? 0;
  return s;
};
const clamp16 = (v: number): number => Math.max(0, Math.min(0xffff, Math.round(v)));

export interface PmsValues {
  cf1: [number, number, number];
  atm: [number, number, number];
  counts: [number, number, number, number, number, number];
}

/** 32-byte data frame: `42 4D 00 1C`, 13 big-endian words, 16-bit sum of bytes 0–29. */
export function pmsDataFrame(v: PmsValues, version = 0x97, errorCode = 0): Uint8Array {
  const b = new Uint8Array(32);
  b.set([0x42, 0x4d, 0x00, 0x1c]);
  const words = [...v.cf1, ...v.atm, ...v.counts];
  words.forEach((w, i) => { const x = clamp16(w); b[4 + 2 * i] = x >> 8; b[5 + 2 * i] = x & 0xff; });
  b[28] = version;
  b[29] = errorCode;
  const s = sum(b, 0, 30);
  b[30] = (s >> 8) & 0xff;
  b[31] = s & 0xff;
  return b;
}

/** The module's 8-byte answer to a mode or sleep command: `42 4D 00 04 cmd data sum(2)`. */
export function pmsAckFrame(cmd: number, data: number): Uint8Array {
  const b = Uint8Array.from([0x42, 0x4d, 0x00, 0x04, cmd, data, 0, 0]);
  const s = sum(b, 0, 6);
  b[6] = (s >> 8) & 0xff;
  b[7] = s & 0xff;
  return b;
}

/** 10-byte SDS011 data frame `AA C0 pm25L pm25H pm10L pm10H id1 id2 sum AB`, PM in tenths. */
export function sdsDataFrame(pm25: number, pm10: number, id: number): Uint8Array {
  const a = clamp16(pm25 * 10);
  const c = clamp16(pm10 * 10);
  const b = Uint8Array.from([0xaa, 0xc0, a & 0xff, a >> 8, c & 0xff, c >> 8, id & 0xff, (id >> 8) & 0xff, 0, 0xab]);
  b[8] = sum(b, 2, 8) & 0xff;
  return b;
}

/** 10-byte SDS011 reply `AA C5 cmd d1 d2 d3 id1 id2 sum AB`. */
export function sdsReplyFrame(cmd: number, d: [number, number, number], id: number): Uint8Array {
  const b = Uint8Array.from([0xaa, 0xc5, cmd, ...d, id & 0xff, (id >> 8) & 0xff, 0, 0xab]);
  b[8] = sum(b, 2, 8) & 0xff;
  return b;
}

/** `53 59 ctrl cmd lenH lenL data sum 54 43`. */
export function radarFrame(control: number, command: number, data: readonly number[]): Uint8Array {
  const b = new Uint8Array(9 + data.length);
  b.set([0x53, 0x59, control, command, data.length >> 8, data.length & 0xff, ...data]);
  b[6 + data.length] = sum(b, 0, 6 + data.length) & 0xff;
  b[7 + data.length] = 0x54;
  b[8 + data.length] = 0x43;
  return b;
}

/** `57 4B 4C 59 len addr cmd data… xor`. */
export function lockFrame(address: number, command: number, data: readonly number[]): Uint8Array {
  const b = new Uint8Array(8 + data.length);
  b.set([0x57, 0x4b, 0x4c, 0x59, b.length, address, command, ...data]);
  let x = 0;
  for (let i = 0; i < b.length - 1; i++) x ^= b[i]!;
  b[b.length - 1] = x;
  return b;
}

/**
 * Finds the host's commands in the bytes the emulator receives. Each protocol's commands
 * have a fixed or self-described length; anything that fails its checksum is dropped and
 * counted, as the real modules silently ignore it.
 */
export class CommandScanner {
  private buf: number[] = [];
  rejected = 0;
  constructor(private readonly header: readonly number[], private readonly frameLength: (b: number[]) => number | undefined,
    private readonly valid: (f: number[]) => boolean) {}

  push(chunk: Uint8Array): number[][] {
    this.buf.push(...chunk);
    const out: number[][] = [];
    for (;;) {
      const at = this.indexOfHeader();
      if (at < 0) { this.buf = this.buf.slice(Math.max(0, this.buf.length - this.header.length + 1)); break; }
      this.buf = this.buf.slice(at);
      const len = this.frameLength(this.buf);
      if (len === undefined) break;
      if (len <= 0 || len > 64) { this.rejected++; this.buf.shift(); continue; }
      if (this.buf.length < len) break;
      const f = this.buf.slice(0, len);
      if (this.valid(f)) { out.push(f); this.buf = this.buf.slice(len); } else { this.rejected++; this.buf.shift(); }
    }
    return out;
  }

  private indexOfHeader(): number {
    const h = this.header;
    for (let i = 0; i + h.length <= this.buf.length; i++) {
      if (h.every((x, k) => this.buf[i + k] === x)) return i;
    }
    return -1;
  }
}

export const pmsCommandScanner = () => new CommandScanner([0x42, 0x4d], () => 7,
  (f) => ((f[5]! << 8) | f[6]!) === sum(f, 0, 5));
export const sdsCommandScanner = () => new CommandScanner([0xaa, 0xb4], () => 19,
  (f) => f[18] === 0xab && (sum(f, 2, 17) & 0xff) === f[17]);
export const radarCommandScanner = () => new CommandScanner([0x53, 0x59], (b) => (b.length < 6 ? undefined : 9 + ((b[4]! << 8) | b[5]!)),
  (f) => f[f.length - 2] === 0x54 && f[f.length - 1] === 0x43 && (sum(f, 0, f.length - 3) & 0xff) === f[f.length - 3]);
export const lockCommandScanner = () => new CommandScanner([0x57, 0x4b, 0x4c, 0x59], (b) => (b.length < 5 ? undefined : b[4]!),
  (f) => f.length >= 8 && f.slice(0, -1).reduce((x, v) => x ^ v, 0) === f[f.length - 1]);
