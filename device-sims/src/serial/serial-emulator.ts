import { existsSync } from 'node:fs';
import { SerialPort } from 'serialport';

export interface EmulatorStats {
  framesSent: number;
  commands: number;
  /** Host bytes that did not make a valid command (the real parts ignore them silently). */
  rejectedCommands: number;
  attaches: number;
}

export interface EmulatorOptions {
  /** The device end of the line (one end of a socat pty pair). */
  path: string;
  baudRate: number;
  /** While the port is gone (socat killed: "unplugged"), how often to look for it again. */
  reattachMs?: number;
}

/**
 * One emulated serial device on one end of a pseudo-terminal. Subclasses speak the protocol;
 * this class owns the port, reattaches when it comes back after an unplug, and injects the
 * faults a real line has: garbage bytes, a corrupted checksum, silence.
 */
export abstract class SerialEmulator {
  readonly stats: EmulatorStats = { framesSent: 0, commands: 0, rejectedCommands: 0, attaches: 0 };
  private port: SerialPort | undefined;
  private closed = false;
  private corruptNextFrame = false;
  private mute = false;
  private reattachTimer: NodeJS.Timeout | undefined;
  private readonly waiters: (() => void)[] = [];

  constructor(protected readonly opts: EmulatorOptions) {}

  /** Opens the port; resolves once open (retries until then, e.g. while socat starts). */
  start(): Promise<void> {
    const ready = this.nextAttach();
    this.tryAttach();
    return ready;
  }

  get attached(): boolean {
    return this.port?.isOpen === true;
  }

  /** Resolves on the next successful open (after an unplug, when the port is back). */
  nextAttach(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reattachTimer);
    this.onDetach();
    const p = this.port;
    this.port = undefined;
    if (p?.isOpen) await new Promise<void>((resolve) => p.close(() => resolve()));
  }

  /** Sends bytes that are no frame at all (a loose wire, a module booting). */
  injectGarbage(bytes: Uint8Array): void {
    this.write(bytes);
  }

  /** The module hangs (brown-out, firmware lock-up) while the adapter stays plugged: it sends
   * nothing and answers nothing until `resume()`. The port stays open on both ends. */
  goSilent(): void {
    this.mute = true;
  }

  resume(): void {
    this.mute = false;
  }

  get silent(): boolean {
    return this.mute;
  }

  /** The next frame goes out with its checksum byte flipped. */
  corruptNext(): void {
    this.corruptNextFrame = true;
  }

  protected sendFrame(frame: Uint8Array): void {
    let f = frame;
    if (this.corruptNextFrame) {
      this.corruptNextFrame = false;
      f = frame.slice();
      const at = this.checksumIndex(f);
      f[at] = f[at]! ^ 0x01;
    }
    if (this.write(f)) this.stats.framesSent++;
  }

  /** Where the checksum byte of one of this protocol's frames is. */
  protected abstract checksumIndex(frame: Uint8Array): number;
  /** Bytes the host sent. */
  protected abstract onBytes(bytes: Uint8Array): void;
  /** The line came up (first open or after an unplug): start reporting. */
  protected abstract onAttach(): void;
  /** The line went away: stop timers. */
  protected abstract onDetach(): void;

  private write(bytes: Uint8Array): boolean {
    const p = this.port;
    if (!p?.isOpen || this.mute) return false;
    p.write(Buffer.from(bytes));
    return true;
  }

  private tryAttach(): void {
    if (this.closed) return;
    const retry = () => { if (!this.closed) this.reattachTimer = setTimeout(() => this.tryAttach(), this.opts.reattachMs ?? 200); };
    // Look before opening: opening a missing pty path would only produce an error per try.
    if (!existsSync(this.opts.path)) { retry(); return; }
    const port = new SerialPort({ path: this.opts.path, baudRate: this.opts.baudRate, autoOpen: false });
    port.open((err) => {
      if (err || this.closed) { if (!err) port.close(); retry(); return; }
      this.port = port;
      this.stats.attaches++;
      port.on('data', (b: Buffer) => { if (!this.mute) this.onBytes(new Uint8Array(b)); });
      port.on('error', () => { /* a vanished pty ends in close */ });
      port.on('close', () => {
        if (this.port !== port) return;
        this.port = undefined;
        this.onDetach();
        retry();
      });
      this.onAttach();
      for (const w of this.waiters.splice(0)) w();
    });
  }
}
