/**
 * Duplicate detection by (device, seq) that tolerates out-of-order arrival.
 *
 * Per device we keep the highest seq seen (high-water mark) and a ring bitmap of the last
 * WINDOW seqs below it. A seq inside the window is new iff its bit is clear, so a message
 * overtaken by a later one is still accepted. A seq older than the window cannot be told
 * apart from a replay and is rejected as stale — unless its device time is newer than the
 * high-water mark's, which means the device was re-provisioned and restarted its counter.
 * Pure and synchronous; `exportState`/`importState` let the outbox persist it in the same
 * transaction as the records, so a restart neither re-admits nor loses anything.
 */
export const DEDUPE_WINDOW = 1024;
const WORDS = DEDUPE_WINDOW / 32;

export const SeqVerdict = { New: 'new', Duplicate: 'duplicate', Stale: 'stale' } as const;
export type SeqVerdict = (typeof SeqVerdict)[keyof typeof SeqVerdict];

interface DeviceSeqState {
  hwm: number;
  hwmTs: number;
  bits: Uint32Array;
}

/** Serialised form: [hwm, hwmTs, base64 bitmap]. */
export type DedupeSnapshot = [number, number, string];

export class Deduper {
  private readonly devices = new Map<string, DeviceSeqState>();

  /** Checks and, when new, records the seq. */
  admit(deviceId: string, seq: number, tsMs: number): SeqVerdict {
    const s = this.devices.get(deviceId);
    if (!s) {
      const bits = new Uint32Array(WORDS);
      setBit(bits, seq);
      this.devices.set(deviceId, { hwm: seq, hwmTs: tsMs, bits });
      return SeqVerdict.New;
    }
    if (seq > s.hwm) {
      advance(s, seq);
      s.hwmTs = tsMs;
      return SeqVerdict.New;
    }
    if (seq > s.hwm - DEDUPE_WINDOW) {
      if (getBit(s.bits, seq)) return SeqVerdict.Duplicate;
      setBit(s.bits, seq);
      return SeqVerdict.New;
    }
    if (tsMs > s.hwmTs) {
      // Counter restarted (re-provisioned device): start a fresh window.
      s.bits.fill(0);
      setBit(s.bits, seq);
      s.hwm = seq;
      s.hwmTs = tsMs;
      return SeqVerdict.New;
    }
    return SeqVerdict.Stale;
  }

  /** Read-only check (no state change). */
  seen(deviceId: string, seq: number): boolean {
    const s = this.devices.get(deviceId);
    if (!s) return false;
    if (seq > s.hwm) return false;
    if (seq <= s.hwm - DEDUPE_WINDOW) return true;
    return getBit(s.bits, seq);
  }

  exportState(deviceId: string): DedupeSnapshot | undefined {
    const s = this.devices.get(deviceId);
    if (!s) return undefined;
    return [s.hwm, s.hwmTs, Buffer.from(s.bits.buffer, s.bits.byteOffset, s.bits.byteLength).toString('base64')];
  }

  importState(deviceId: string, snap: DedupeSnapshot): void {
    const buf = Buffer.from(snap[2], 'base64');
    const bits = new Uint32Array(WORDS);
    if (buf.byteLength === bits.byteLength) new Uint8Array(bits.buffer).set(buf);
    this.devices.set(deviceId, { hwm: snap[0], hwmTs: snap[1], bits });
  }

  get deviceCount(): number {
    return this.devices.size;
  }
}

function getBit(bits: Uint32Array, seq: number): boolean {
  const i = seq % DEDUPE_WINDOW;
  return ((bits[i >>> 5] as number) & (1 << (i & 31))) !== 0;
}
function setBit(bits: Uint32Array, seq: number): void {
  const i = seq % DEDUPE_WINDOW;
  bits[i >>> 5] = (bits[i >>> 5] as number) | (1 << (i & 31));
}
function clearBit(bits: Uint32Array, seq: number): void {
  const i = seq % DEDUPE_WINDOW;
  bits[i >>> 5] = (bits[i >>> 5] as number) & ~(1 << (i & 31));
}

/** Moves the high-water mark to `seq`, forgetting the slots that fall out of the window. */
function advance(s: DeviceSeqState, seq: number): void {
  if (seq - s.hwm >= DEDUPE_WINDOW) {
    s.bits.fill(0);
  } else {
    for (let q = s.hwm + 1; q < seq; q++) clearBit(s.bits, q);
    clearBit(s.bits, seq);
  }
  setBit(s.bits, seq);
  s.hwm = seq;
}
