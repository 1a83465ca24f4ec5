import { Ctl, dataBlocks, encodeBatchEnd, encodeHeader } from './ymodem.js';

export const YmodemErrorCode = {
  /** The receiver never asked for the transfer ('C'), or stopped answering. */
  Timeout: 'E_YMODEM_TIMEOUT',
  /** A block was refused (NAK) more often than the retry budget allows. */
  TooManyNaks: 'E_YMODEM_TOO_MANY_NAKS',
  /** The receiver sent CAN CAN. */
  Cancelled: 'E_YMODEM_CANCELLED',
} as const;
export type YmodemErrorCode = (typeof YmodemErrorCode)[keyof typeof YmodemErrorCode];

export class YmodemError extends Error {
  constructor(readonly code: YmodemErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'YmodemError';
  }
}

export interface SenderOptions {
  /** How long to wait for the receiver's first 'C' (a device is put into its bootloader by hand). */
  startTimeoutMs?: number;
  /** How long to wait for an answer to a frame before sending it again. */
  responseTimeoutMs?: number;
  /** Retransmissions allowed per frame (NAKs and unanswered sends together). */
  maxRetries?: number;
  /** While no 'C' has come, send a NUL this long after the start, then every `nudgeMs`,
   * to make a receiver that is already waiting ask again (see NUDGE). Not at once: a NUL
   * queued before the receiver starts would reach it right after its first 'C', and rb
   * would answer it with a second 'C' while our header is on its way. */
  firstNudgeMs?: number;
  nudgeMs?: number;
  /** After a 'C' that may mean "send that again", how long an ACK may still take to arrive. */
  settleMs?: number;
  /** How long to wait for the ACK of the end-of-batch block, and how often to resend it
   * unanswered (a receiver that got it garbled answers NAK or 'C', which resends at once). */
  endTimeoutMs?: number;
  endRetries?: number;
}

/**
 * A NUL is not a YMODEM control byte and not text: receivers waiting for a header discard
 * it as line noise, and lrzsz's `rb` answers it at once with a fresh 'C' (wcgetsec: any
 * unexpected byte on the first block → purge, send 'C' again) instead of after its 10 s
 * timeout. That matters because the receiver's first 'C' is usually gone: it was sent
 * before we opened the port, and opening a port discards pending input (node-serialport's
 * open calls tcflush(TCIOFLUSH)).
 */
export const NUDGE = Uint8Array.of(0x00);

type Phase =
  | 'wait-c-header' | 'wait-ack-header' | 'wait-c-data' | 'wait-ack-data'
  | 'wait-eot-nak' | 'wait-eot-ack' | 'wait-c-end' | 'wait-ack-end' | 'done' | 'failed';

/**
 * The YMODEM sender as a pure state machine: feed it the receiver's bytes (`receive`) and
 * clock ticks (`tick`), write out whatever frames they return. Time is passed in, so tests
 * (and the fast-check property) drive it without real timers or a serial port.
 *
 * The receiver's answers are single bytes with no sequence number, so a stale byte (a 'C'
 * poll queued before we started, an ACK for a copy the receiver had already taken) cannot
 * be told from a fresh one. The rules below keep us from creating such copies, and from
 * stalling when an answer is lost:
 * - a 'C' is a request only where the receiver really asks with one (before the header,
 *   before block 1, before the end-of-batch block); elsewhere it is stale and ignored;
 * - a 'C' while we wait for the ACK of a block the receiver asked for with 'C' may be a
 *   poll that crossed the block on the line, or the receiver asking again because the
 *   block never arrived (rb purges its input after each answer): resend only if no ACK
 *   follows within `settleMs` (lrzsz's sz resends at once, and so gets out of step);
 * - once the EOT is ACKed the file is the receiver's; the end-of-batch block only tells it
 *   no more files follow. rb exits right after ACKing it, and that last byte is sometimes
 *   lost when its tty closes, so a missing final ACK ends the transfer with `endConfirmed`
 *   false after a short wait instead of failing it.
 */
export class YmodemSender {
  phase: Phase = 'wait-c-header';
  error: YmodemError | undefined;
  /** File bytes the receiver has acknowledged. */
  bytesAcked = 0;
  /** False when the receiver never acknowledged the end-of-batch block (see above). */
  endConfirmed = true;
  readonly total: number;
  private readonly blocks: { frame: Uint8Array; length: number }[];
  private readonly header: Uint8Array;
  private next = 0;
  private retries = 0;
  private naks = 0;
  private lastSend: Uint8Array | undefined;
  private deadline: number;
  private nextNudge: number;
  /** A 'C' arrived while waiting for an ACK: resend then unless the ACK comes first. */
  private resendAt: number | undefined;
  private lastByteWasCan = false;
  private readonly startTimeoutMs: number;
  private readonly responseTimeoutMs: number;
  private readonly maxRetries: number;
  private readonly nudgeMs: number;
  private readonly settleMs: number;
  private readonly endTimeoutMs: number;
  private readonly endRetries: number;

  constructor(name: string, file: Uint8Array, nowMs: number, opts: SenderOptions = {}) {
    this.startTimeoutMs = opts.startTimeoutMs ?? 60_000;
    this.responseTimeoutMs = opts.responseTimeoutMs ?? 10_000;
    this.maxRetries = opts.maxRetries ?? 10;
    this.nudgeMs = opts.nudgeMs ?? 3_000;
    const firstNudgeMs = opts.firstNudgeMs ?? 500;
    this.settleMs = opts.settleMs ?? 1_000;
    // Resent twice, 3 s apart, before ending unconfirmed: a receiver slowed by a busy host
    // (rb under load) can take over a second to answer, and a sender that closed its port
    // after one second left it waiting for a block it never got (the block in flight can be
    // lost when the port closes). When rb's ACK itself is lost this costs 9 s, not a hang.
    this.endTimeoutMs = opts.endTimeoutMs ?? 3_000;
    this.endRetries = opts.endRetries ?? 2;
    this.total = file.length;
    this.header = encodeHeader(name, file.length);
    this.blocks = [...dataBlocks(file)].map(({ frame, length }) => ({ frame, length }));
    this.deadline = nowMs + this.startTimeoutMs;
    this.nextNudge = nowMs + firstNudgeMs;
  }

  get finished(): boolean { return this.phase === 'done' || this.phase === 'failed'; }

  /** Bytes from the receiver; returns the frames to write, in order. */
  receive(bytes: Uint8Array, nowMs: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (const b of bytes) {
      if (this.finished) break;
      // Two consecutive CANs cancel; a lone CAN is treated as line noise.
      if (b === Ctl.CAN) {
        if (this.lastByteWasCan) this.fail(YmodemErrorCode.Cancelled, 'the receiver cancelled the transfer (CAN CAN)');
        this.lastByteWasCan = true;
        continue;
      }
      this.lastByteWasCan = false;
      out.push(...this.onByte(b, nowMs));
    }
    return out;
  }

  /** Clock tick: nudges a silent receiver, resends an unanswered frame, or gives up. */
  tick(nowMs: number): Uint8Array[] {
    if (this.finished) return [];
    if (this.phase === 'wait-c-header') {
      if (nowMs >= this.deadline) {
        this.fail(YmodemErrorCode.Timeout, `no answer from the receiver within ${this.startTimeoutMs / 1000} s (is the device in its bootloader, waiting for YMODEM?)`);
        return [];
      }
      if (nowMs < this.nextNudge) return [];
      this.nextNudge = nowMs + this.nudgeMs;
      return [NUDGE];
    }
    if (this.resendAt !== undefined && nowMs >= this.resendAt) return this.retry(nowMs, 'nak');
    if (nowMs < this.deadline) return [];
    if (!this.lastSend) {
      this.fail(YmodemErrorCode.Timeout, `the receiver stopped asking for data (no 'C' within ${this.responseTimeoutMs / 1000} s)`);
      return [];
    }
    return this.retry(nowMs, 'timeout');
  }

  private onByte(b: number, now: number): Uint8Array[] {
    switch (this.phase) {
      case 'wait-c-header':
        return b === Ctl.C ? this.send(this.header, 'wait-ack-header', now) : [];
      case 'wait-ack-header':
        if (b === Ctl.ACK) { this.await('wait-c-data', now); return []; }
        return this.onNakOrC(b, now);
      case 'wait-c-data':
        return b === Ctl.C ? this.sendNext(now) : [];
      case 'wait-ack-data':
        if (b === Ctl.ACK) {
          this.bytesAcked += this.blocks[this.next]!.length;
          this.next++;
          return this.sendNext(now);
        }
        // Block 1 is the answer to a 'C'; later blocks answer ACKs, so a 'C' then is stale.
        return b === Ctl.NAK || this.next === 0 ? this.onNakOrC(b, now) : [];
      case 'wait-eot-nak':
        // The specification's receiver NAKs the first EOT (to tell a real EOT from noise)
        // and ACKs the second; lrzsz's rb checks for a quiet line instead and ACKs the first.
        if (b === Ctl.NAK) return this.send(Uint8Array.of(Ctl.EOT), 'wait-eot-ack', now);
        if (b === Ctl.ACK) this.await('wait-c-end', now);
        return [];
      case 'wait-eot-ack':
        if (b === Ctl.ACK) { this.await('wait-c-end', now); return []; }
        return b === Ctl.NAK ? this.retry(now, 'nak') : [];
      case 'wait-c-end':
        // sz's getnak() takes a NAK as the request too: a receiver that NAKs here wants
        // block 0 (in checksum mode, which we do not offer; CRC receivers ask with 'C').
        return b === Ctl.C || b === Ctl.NAK ? this.send(encodeBatchEnd(), 'wait-ack-end', now) : [];
      case 'wait-ack-end':
        if (b === Ctl.ACK) { this.finish(); return []; }
        return this.onNakOrC(b, now);
      default:
        return [];
    }
  }

  /** NAK: resend now. 'C': resend after `settleMs` unless the ACK arrives meanwhile. */
  private onNakOrC(b: number, now: number): Uint8Array[] {
    if (b === Ctl.NAK) return this.retry(now, 'nak');
    if (b === Ctl.C && this.resendAt === undefined) this.resendAt = now + this.settleMs;
    return [];
  }

  private sendNext(now: number): Uint8Array[] {
    const block = this.blocks[this.next];
    return block ? this.send(block.frame, 'wait-ack-data', now) : this.send(Uint8Array.of(Ctl.EOT), 'wait-eot-nak', now);
  }

  private send(frame: Uint8Array, phase: Phase, now: number): Uint8Array[] {
    this.retries = 0;
    this.naks = 0;
    this.lastSend = frame;
    this.await(phase, now);
    return [frame];
  }

  /** Waiting for the receiver to ask for something: the receiver drives, so the same
   * response timeout applies before we give up. */
  private await(phase: Phase, now: number): void {
    this.phase = phase;
    this.resendAt = undefined;
    this.deadline = now + (phase === 'wait-ack-end' ? this.endTimeoutMs : this.responseTimeoutMs);
    if (phase === 'wait-c-data' || phase === 'wait-c-end') this.lastSend = undefined;
  }

  private retry(now: number, why: 'nak' | 'timeout'): Uint8Array[] {
    this.resendAt = undefined;
    // The file was acknowledged with its EOT: the end of the batch never fails a flash.
    // Silence or a receiver refusing our resends (a bootloader already in its next session
    // NAKs) ends it unconfirmed once the end block's own retries are spent.
    if (this.phase === 'wait-ack-end' && this.retries >= this.endRetries) {
      this.endConfirmed = false;
      this.finish();
      return [];
    }
    if (why === 'nak') this.naks++;
    if (this.retries >= this.maxRetries) {
      const what = this.describeFrame();
      if (this.naks > this.retries / 2) this.fail(YmodemErrorCode.TooManyNaks, `the receiver refused ${what} ${this.naks} times; giving up after ${this.maxRetries} retries`);
      else this.fail(YmodemErrorCode.Timeout, `no answer to ${what} after ${this.maxRetries} retries`);
      return [];
    }
    this.retries++;
    this.deadline = now + (this.phase === 'wait-ack-end' ? this.endTimeoutMs : this.responseTimeoutMs);
    return this.lastSend ? [this.lastSend] : [];
  }

  private describeFrame(): string {
    if (this.phase === 'wait-ack-header') return 'the header block';
    if (this.phase === 'wait-ack-data') return `block ${this.next + 1}`;
    if (this.phase === 'wait-ack-end') return 'the end-of-batch block';
    return 'the end of file (EOT)';
  }

  private finish(): void {
    this.phase = 'done';
    this.lastSend = undefined;
    this.resendAt = undefined;
  }

  private fail(code: YmodemErrorCode, message: string): void {
    this.phase = 'failed';
    this.error = new YmodemError(code, message);
  }
}
