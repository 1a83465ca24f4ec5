import { StreamFramer, type FramerStats } from './stream-framer.js';

/**
 * Parcel-locker lock board (serial-sensors.md, one vendor family, RS-485):
 * `57 4B 4C 59 | total length | board address | command | data… | XOR of all previous`.
 * The domain file gives the requests; it is silent on the line settings and the reply
 * payloads. We follow the vendor sheet's layout: 9600 8N1; replies carry the request's
 * command with data `status, channel, door` for open/query-one, `status, n, door×n` for
 * query-all, `channel, door` for the unsolicited 0x85 door report, and `status` for open-all.
 * Door byte: 0x00 open, 0x01 closed. Channels are numbered from 1.
 */
export const LOCK_BAUD = 9600;
export const LOCK_HEADER = [0x57, 0x4b, 0x4c, 0x59] as const;
export const LockCmd = { Open: 0x82, Query: 0x83, QueryAll: 0x84, DoorReport: 0x85, OpenAll: 0x86 } as const;
export const LOCK_OK = 0x00;
export const LOCK_FAIL = 0xff;
/** Header, length, address, command, XOR: a frame without data. */
const MIN_FRAME = 8;
/** A board drives at most 48 channels; query-all with 48 doors is 8 + 2 + 48 bytes. */
export const LOCK_MAX_FRAME = 64;

export interface LockFrame { address: number; command: number; data: Uint8Array }

export type LockReply =
  | { type: 'open'; address: number; ok: boolean; channel: number; doorOpen: boolean }
  | { type: 'status'; address: number; ok: boolean; channel: number; doorOpen: boolean }
  | { type: 'status-all'; address: number; ok: boolean; doorsOpen: boolean[] }
  | { type: 'door-report'; address: number; channel: number; doorOpen: boolean }
  | { type: 'open-all'; address: number; ok: boolean }
  | { type: 'other'; address: number; command: number; data: Uint8Array };

export const xor = (b: Uint8Array, from: number, to: number): number => {
  let x = 0;
  for (let i = from; i < to; i++) x ^= b[i] ?? 0;
  return x;
};

export function lockFrameSpec() {
  return {
    header: LOCK_HEADER,
    maxFrame: LOCK_MAX_FRAME,
    inspect(b: Uint8Array, at: number) {
      if (b.length - at < 5) return { kind: 'need-more' } as const;
      const len = b[at + 4] ?? 0;
      if (len < MIN_FRAME || len > LOCK_MAX_FRAME) return { kind: 'length' } as const;
      if (b.length - at < len) return { kind: 'need-more' } as const;
      if (xor(b, at, at + len - 1) !== b[at + len - 1]) return { kind: 'checksum' } as const;
      return { kind: 'frame', length: len } as const;
    },
  };
}

export function decodeLockFrame(f: Uint8Array): LockFrame {
  return { address: f[5] ?? 0, command: f[6] ?? 0, data: f.slice(7, f.length - 1) };
}

/** Meaning of a frame a board sends; anything that does not fit its layout is `other`. */
export function interpretLockReply(fr: LockFrame): LockReply {
  const d = fr.data;
  const a = fr.address;
  switch (fr.command) {
    case LockCmd.Open:
    case LockCmd.Query:
      if (d.length === 3) return { type: fr.command === LockCmd.Open ? 'open' : 'status', address: a, ok: d[0] === LOCK_OK, channel: d[1] ?? 0, doorOpen: d[2] === 0 };
      break;
    case LockCmd.QueryAll:
      if (d.length >= 2 && d.length === 2 + (d[1] ?? 0)) return { type: 'status-all', address: a, ok: d[0] === LOCK_OK, doorsOpen: [...d.slice(2)].map((x) => x === 0) };
      break;
    case LockCmd.DoorReport:
      if (d.length === 2) return { type: 'door-report', address: a, channel: d[0] ?? 0, doorOpen: d[1] === 0 };
      break;
    case LockCmd.OpenAll:
      if (d.length === 1) return { type: 'open-all', address: a, ok: d[0] === LOCK_OK };
      break;
    default:
  }
  return { type: 'other', address: a, command: fr.command, data: d };
}

export class LockBoardParser {
  private readonly framer = new StreamFramer(lockFrameSpec());
  get stats(): FramerStats { return this.framer.stats; }
  push(chunk: Uint8Array): LockReply[] {
    return this.framer.push(chunk).map((f) => interpretLockReply(decodeLockFrame(f)));
  }
}

export function encodeLockFrame(address: number, command: number, data: readonly number[] = []): Uint8Array {
  const len = MIN_FRAME + data.length;
  const b = new Uint8Array(len);
  b.set(LOCK_HEADER, 0);
  b[4] = len;
  b[5] = address & 0xff;
  b[6] = command & 0xff;
  b.set(data.map((x) => x & 0xff), 7);
  b[len - 1] = xor(b, 0, len - 1);
  return b;
}

export const lockCommands = {
  open: (address: number, channel: number) => encodeLockFrame(address, LockCmd.Open, [channel]),
  query: (address: number, channel: number) => encodeLockFrame(address, LockCmd.Query, [channel]),
  queryAll: (address: number) => encodeLockFrame(address, LockCmd.QueryAll),
  openAll: (address: number) => encodeLockFrame(address, LockCmd.OpenAll),
};
