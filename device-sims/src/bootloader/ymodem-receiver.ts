/**
 * A YMODEM receiver as a pure state machine, written independently of the CLI's sender
 * (cli/src/ymodem*.ts) so that a shared misunderstanding of the protocol cannot hide in a
 * shared helper. Feed it bytes and clock ticks; it returns the bytes to answer with.
 */
const SOH = 0x01, STX = 0x02, EOT = 0x04, ACK = 0x06, NAK = 0x15, CAN = 0x18, POLL = 0x43;

export function crc16Xmodem(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = (crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1) & 0xffff;
  }
  return crc;
}

export interface ReceiverFaults {
  /** Absolute data block numbers (1-based) to refuse once, as if their CRC were bad. */
  corruptBlocks?: readonly number[];
  /** Cancel (CAN CAN) instead of acknowledging this data block (1-based). */
  cancelAtBlock?: number;
  /** Never acknowledge the end-of-batch block, as when lrzsz's rb exits and its ACK is lost. */
  dropBatchEndAck?: boolean;
}

export interface ReceivedFile { name: string; data: Uint8Array }

export interface ReceiverOptions {
  faults?: ReceiverFaults;
  /** 'C' poll interval while waiting for a header (the sender starts on the first one). */
  pollMs?: number;
  /** A partial frame older than this is purged and NAKed (the rest of it was lost). */
  frameTimeoutMs?: number;
}

export type ReceiverPhase = 'header' | 'data' | 'done' | 'cancelled';

export class YmodemReceiver {
  phase: ReceiverPhase = 'header';
  readonly files: ReceivedFile[] = [];
  /** Counters for tests and the simulator's log. */
  readonly stats = { naks: 0, duplicates: 0, blocks: 0, polls: 0 };
  private buf = new Uint8Array(0);
  /** `size` is undefined when the header leaves it out (the specification makes it optional). */
  private current: { name: string; size: number | undefined; chunks: Uint8Array[]; received: number } | undefined;
  private expected = 1;
  private eotSeen = false;
  private lastActivity: number;
  private lastPoll: number;
  private readonly pendingCorrupt: Set<number>;
  private readonly opts: Required<Omit<ReceiverOptions, 'faults'>> & { faults: ReceiverFaults };

  constructor(nowMs: number, opts: ReceiverOptions = {}) {
    this.opts = { pollMs: 1000, frameTimeoutMs: 1000, faults: {}, ...opts };
    this.pendingCorrupt = new Set(this.opts.faults.corruptBlocks ?? []);
    this.lastActivity = nowMs;
    this.lastPoll = -Infinity;
  }

  /** Bytes from the sender; returns the answer (possibly empty). */
  receive(bytes: Uint8Array, nowMs: number): Uint8Array {
    if (this.phase === 'done' || this.phase === 'cancelled') return new Uint8Array(0);
    this.lastActivity = nowMs;
    const joined = new Uint8Array(this.buf.length + bytes.length);
    joined.set(this.buf);
    joined.set(bytes, this.buf.length);
    this.buf = joined;
    const out: number[] = [];
    while (this.buf.length > 0 && !this.ended) {
      const head = this.buf[0]!;
      if (head === EOT) {
        this.buf = this.buf.subarray(1);
        out.push(...this.onEot());
      } else if (head === SOH || head === STX) {
        const size = head === STX ? 1024 : 128;
        if (this.buf.length < size + 5) break;
        const frame = this.buf.subarray(0, size + 5);
        this.buf = this.buf.subarray(size + 5);
        out.push(...this.onFrame(frame, size));
      } else {
        this.buf = this.buf.subarray(1); // line noise between frames
      }
    }
    return Uint8Array.from(out);
  }

  /** Clock tick: 'C' polls while waiting for a header, NAK for a stale partial frame. */
  tick(nowMs: number): Uint8Array {
    if (this.phase === 'done' || this.phase === 'cancelled') return new Uint8Array(0);
    if (this.buf.length > 0 && nowMs - this.lastActivity >= this.opts.frameTimeoutMs) {
      this.buf = new Uint8Array(0);
      this.stats.naks++;
      this.lastActivity = nowMs;
      return Uint8Array.of(NAK);
    }
    // Also poll after a header until block 1 arrives: the 'C' that followed the header's
    // ACK may have been lost, and the sender waits for one.
    const waiting = this.phase === 'header' || (this.expected === 1 && !this.eotSeen);
    if (waiting && this.buf.length === 0 && nowMs - this.lastActivity >= this.opts.pollMs && nowMs - this.lastPoll >= this.opts.pollMs) {
      this.lastPoll = nowMs;
      this.stats.polls++;
      return Uint8Array.of(POLL);
    }
    return new Uint8Array(0);
  }

  get ended(): boolean { return this.phase === 'done' || this.phase === 'cancelled'; }

  /** Waiting for a transfer, nothing half-received: text on the line is not YMODEM. */
  get idle(): boolean { return this.phase === 'header' && this.buf.length === 0 && this.files.length === 0; }

  /** The first poll, sent as soon as the bootloader is ready. */
  start(nowMs: number): Uint8Array {
    this.lastPoll = nowMs;
    return Uint8Array.of(POLL);
  }

  private onEot(): number[] {
    if (this.phase === 'header') return [ACK, POLL]; // our ACK of the last EOT was lost: the sender repeats it
    // The specification's handshake, which lrzsz's sz follows (it resends EOT until ACKed):
    // NAK the first EOT, so that a noise byte that merely looks like EOT cannot end a file.
    if (!this.eotSeen) { this.eotSeen = true; return [NAK]; }
    this.finishFile();
    return [ACK, POLL];
  }

  private finishFile(): void {
    const cur = this.current!;
    const size = Math.min(cur.size ?? cur.received, cur.received);
    const data = new Uint8Array(size);
    let at = 0;
    for (const c of cur.chunks) {
      if (at >= size) break;
      data.set(c.subarray(0, Math.min(c.length, size - at)), at);
      at += c.length;
    }
    this.files.push({ name: cur.name, data });
    this.current = undefined;
    this.phase = 'header';
  }

  private onFrame(frame: Uint8Array, size: number): number[] {
    const seq = frame[1]!;
    const payload = frame.subarray(3, 3 + size);
    const crc = (frame[3 + size]! << 8) | frame[4 + size]!;
    if (((seq ^ frame[2]!) & 0xff) !== 0xff || crc16Xmodem(payload) !== crc) {
      this.stats.naks++;
      return [NAK];
    }
    if (this.phase === 'header') return this.onHeader(seq, payload);
    const cur = this.current!;
    // A block 0 after our NAK of the first EOT: the sender took some earlier byte for the
    // EOT's ACK and moved on to the next header (sz does, when it is ahead by an ACK: see
    // below). The EOT was real; the file ends here. (Block 256, 512… also carry seq 0, but
    // only while bytes are still missing.)
    if (this.eotSeen && seq === 0 && (cur.size === undefined || cur.received >= cur.size || (this.expected & 0xff) !== 0)) {
      this.finishFile();
      return this.onHeader(seq, payload);
    }
    if (seq === (this.expected & 0xff)) return this.onData(payload);
    // A copy of the block we took last (the header, before block 1), sent again because
    // our ACK was lost or because the sender took a queued 'C' poll for a NAK (sz does:
    // its wcputsec() treats 'C' like NAK). ACK and discard, as XMODEM prescribes; with
    // no 'C' after it, which would only make sz send the next block again too. Such an
    // ACK puts sz one ACK ahead: harmless on a clean line, since we still take the blocks
    // in order, and handled at the EOT above.
    if (seq === ((this.expected - 1) & 0xff)) { this.stats.duplicates++; return [ACK]; }
    this.phase = 'cancelled'; // out of step: a block was lost for good, unrecoverable in YMODEM
    return [CAN, CAN, CAN];
  }

  private onData(payload: Uint8Array): number[] {
    const n = this.expected;
    if (this.opts.faults.cancelAtBlock === n) { this.phase = 'cancelled'; return [CAN, CAN]; }
    if (this.pendingCorrupt.delete(n)) { this.stats.naks++; return [NAK]; }
    const cur = this.current!;
    cur.chunks.push(payload.slice());
    cur.received += payload.length;
    this.expected++;
    this.eotSeen = false; // the EOT we NAKed was noise after all
    this.stats.blocks++;
    return [ACK];
  }

  private onHeader(seq: number, payload: Uint8Array): number[] {
    if (seq !== 0) return [ACK]; // a late retransmission of the previous file's last block
    if (payload[0] === 0) { this.phase = 'done'; return this.opts.faults.dropBatchEndAck ? [] : [ACK]; }
    const nul = payload.indexOf(0);
    const name = new TextDecoder().decode(payload.subarray(0, nul));
    const meta = new TextDecoder().decode(payload.subarray(nul + 1, payload.indexOf(0, nul + 1)));
    const field = meta.split(' ')[0] ?? '';
    const size = field === '' ? undefined : Number.parseInt(field, 10);
    if (!name || (size !== undefined && (!Number.isSafeInteger(size) || size < 0))) { this.phase = 'cancelled'; return [CAN, CAN]; }
    this.current = { name, size, chunks: [], received: 0 };
    this.expected = 1;
    this.eotSeen = false;
    this.phase = 'data';
    return [ACK, POLL];
  }
}
