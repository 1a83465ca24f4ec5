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
}

type Phase =
  | 'wait-c-header' | 'wait-ack-header' | 'wait-c-data' | 'wait-ack-data'
  | 'wait-eot-nak' | 'wait-eot-ack' | 'wait-c-end' | 'wait-ack-end' | 'done' | 'failed';

/**
 * The YMODEM sender as a pure state machine: feed it the receiver's bytes (`receive`) and
 * clock ticks (`tick`), write out whatever frames they return. Time is passed in, so tests
 * (and the fast-check property) drive it without real timers or a serial port.
 */
export class YmodemSender {
  phase: Phase = 'wait-c-header';
  error: YmodemError | undefined;
  /** File bytes the receiver has acknowledged. */
  bytesAcked = 0;
  readonly total: number;
  private readonly blocks: { frame: Uint8Array; length: number }[];
  private readonly header: Uint8Array;
  private next = 0;
  private retries = 0;
  private naks = 0;
  private lastSend: Uint8Array | undefined;
  private deadline: number;
  private lastByteWasCan = false;
  private readonly startTimeoutMs: number;
  private readonly responseTimeoutMs: number;
  private readonly maxRetries: number;

  constructor(name: string, file: Uint8Array, nowMs: number, opts: SenderOptions = {}) {
    this.startTimeoutMs = opts.startTimeoutMs ?? 60_000;
    this.responseTimeoutMs = opts.responseTimeoutMs ?? 10_000;
    this.maxRetries = opts.maxRetries ?? 10;
    this.total = file.length;
    this.header = encodeHeader(name, file.length);
    this.blocks = [...dataBlocks(file)].map(({ frame, length }) => ({ frame, length }));
    this.deadline = nowMs + this.startTimeoutMs;
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

  /** Clock tick: resends an unanswered frame, or fails once the budget is spent. */
  tick(nowMs: number): Uint8Array[] {
    if (this.finished || nowMs < this.deadline) return [];
    if (this.phase === 'wait-c-header') {
      this.fail(YmodemErrorCode.Timeout, `no answer from the receiver within ${this.startTimeoutMs / 1000} s (is the device in its bootloader, waiting for YMODEM?)`);
      return [];
    }
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
        // A 'C' here is usually one of the receiver's polls that crossed our header on the
        // line; answering it would put a duplicate header in flight whose ACK we would later
        // take for a data block's. The response timeout covers a header that was really lost.
        return b === Ctl.NAK ? this.retry(now, 'nak') : [];
      case 'wait-c-data':
        return b === Ctl.C ? this.sendNext(now) : [];
      case 'wait-ack-data':
        if (b === Ctl.ACK) {
          this.bytesAcked += this.blocks[this.next]!.length;
          this.next++;
          return this.sendNext(now);
        }
        return b === Ctl.NAK ? this.retry(now, 'nak') : [];
      case 'wait-eot-nak':
        // The customary NAK asks for a second EOT; some receivers ACK the first one.
        if (b === Ctl.NAK) return this.send(Uint8Array.of(Ctl.EOT), 'wait-eot-ack', now);
        if (b === Ctl.ACK) this.await('wait-c-end', now);
        return [];
      case 'wait-eot-ack':
        if (b === Ctl.ACK) { this.await('wait-c-end', now); return []; }
        return b === Ctl.NAK ? this.retry(now, 'nak') : [];
      case 'wait-c-end':
        return b === Ctl.C ? this.send(encodeBatchEnd(), 'wait-ack-end', now) : [];
      case 'wait-ack-end':
        if (b === Ctl.ACK) { this.phase = 'done'; this.lastSend = undefined; return []; }
        return b === Ctl.NAK ? this.retry(now, 'nak') : [];
      default:
        return [];
    }
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
    this.deadline = now + this.responseTimeoutMs;
    if (phase === 'wait-c-data' || phase === 'wait-c-end') this.lastSend = undefined;
  }

  private retry(now: number, why: 'nak' | 'timeout'): Uint8Array[] {
    if (why === 'nak') this.naks++;
    if (this.retries >= this.maxRetries) {
      const what = this.describeFrame();
      if (this.naks > this.retries / 2) this.fail(YmodemErrorCode.TooManyNaks, `the receiver refused ${what} ${this.naks} times; giving up after ${this.maxRetries} retries`);
      else this.fail(YmodemErrorCode.Timeout, `no answer to ${what} after ${this.maxRetries} retries`);
      return [];
    }
    this.retries++;
    this.deadline = now + this.responseTimeoutMs;
    return this.lastSend ? [this.lastSend] : [];
  }

  private describeFrame(): string {
    if (this.phase === 'wait-ack-header') return 'the header block';
    if (this.phase === 'wait-ack-data') return `block ${this.next + 1}`;
    if (this.phase === 'wait-ack-end') return 'the end-of-batch block';
    return 'the end of file (EOT)';
  }

  private fail(code: YmodemErrorCode, message: string): void {
    this.phase = 'failed';
    this.error = new YmodemError(code, message);
  }
}
