import { access } from 'node:fs/promises';
import { SerialPort } from 'serialport';
import type { Logger } from 'pino';

export interface PortLinkOptions {
  path: string;
  baudRate: number;
  /** First reopen delay after the port disappears; doubles up to maxBackoffMs (with jitter). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export interface PortLinkStats { opens: number; failedOpens: number; disconnects: number; bytesIn: number; bytesOut: number }

export interface PortLinkEvents {
  up(): void;
  down(reason: string): void;
  data(bytes: Uint8Array): void;
}

/**
 * A serial port that is allowed to disappear: a USB-serial adapter pulled out, a cable
 * cut. Opens by path only — never SerialPort.list(), which spawns udevadm and takes the
 * process down where udev is absent — and reopens with exponential back-off when the
 * path comes back. 8N1, no flow control: what all four supported modules use.
 */
export class PortLink {
  readonly stats: PortLinkStats = { opens: 0, failedOpens: 0, disconnects: 0, bytesIn: 0, bytesOut: 0 };
  private port: SerialPort | undefined;
  private closing = false;
  private failures = 0;
  private timer: NodeJS.Timeout | undefined;
  private lastError = '';

  constructor(private readonly o: PortLinkOptions, private readonly on: PortLinkEvents, private readonly log: Logger) {}

  get isUp(): boolean {
    return this.port?.isOpen === true;
  }

  start(): void {
    void this.attempt();
  }

  /** Writes when the port is open; false (nothing written) while it is down. */
  write(bytes: Uint8Array): boolean {
    const p = this.port;
    if (!p?.isOpen) return false;
    this.stats.bytesOut += bytes.length;
    p.write(Buffer.from(bytes));
    return true;
  }

  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.timer);
    const p = this.port;
    this.port = undefined;
    if (p?.isOpen) await new Promise<void>((resolve) => p.close(() => resolve()));
  }

  private retry(): void {
    if (this.closing) return;
    this.failures++;
    const min = this.o.minBackoffMs ?? 250;
    const cap = Math.min(this.o.maxBackoffMs ?? 10_000, min * 2 ** Math.min(this.failures - 1, 10));
    this.timer = setTimeout(() => void this.attempt(), cap / 2 + Math.random() * (cap / 2));
  }

  private async attempt(): Promise<void> {
    if (this.closing) return;
    try {
      await access(this.o.path);
    } catch {
      this.noteFailure(`${this.o.path} does not exist`);
      this.retry();
      return;
    }
    const port = new SerialPort({ path: this.o.path, baudRate: this.o.baudRate, dataBits: 8, parity: 'none', stopBits: 1, autoOpen: false });
    port.open((err) => {
      if (this.closing) { if (!err) port.close(); return; }
      if (err) { this.noteFailure(err.message); this.retry(); return; }
      this.port = port;
      this.failures = 0;
      this.lastError = '';
      this.stats.opens++;
      port.on('data', (b: Buffer) => { this.stats.bytesIn += b.length; this.on.data(new Uint8Array(b)); });
      // A vanished device ends in 'close' (with a disconnect error); 'error' alone is a write failure.
      port.on('error', (e: Error) => this.log.debug({ err: e, path: this.o.path }, 'serial error'));
      port.on('close', (e: Error | null) => {
        if (this.port !== port) return;
        this.port = undefined;
        this.stats.disconnects++;
        const reason = e?.message ?? 'closed';
        this.log.warn({ path: this.o.path, reason }, 'serial port lost; reopening with back-off');
        this.on.down(reason);
        this.retry();
      });
      this.log.info({ path: this.o.path, baudRate: this.o.baudRate }, 'serial port open');
      this.on.up();
    });
  }

  private noteFailure(msg: string): void {
    this.stats.failedOpens++;
    // Log each new reason once, not every retry.
    if (msg !== this.lastError) this.log.warn({ path: this.o.path, reason: msg }, 'cannot open serial port; retrying');
    this.lastError = msg;
  }
}
