import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { ByteLink } from './serial-link.js';
import { ProvisioningConsole, type DeviceConfig } from './console.js';
import { YmodemReceiver, type ReceivedFile, type ReceiverFaults } from './ymodem-receiver.js';

export interface BootloaderOptions {
  /** Where flashed images are written (under the name the sender gave, sanitised). */
  outDir: string;
  /** Where COMMIT writes the provisioned configuration (JSON); default `<outDir>/device.json`. */
  configPath?: string;
  /** Injected YMODEM faults (corrupt blocks once → NAK, cancel at a block). */
  faults?: ReceiverFaults;
  /** Never answer anything: the host must time out. */
  silent?: boolean;
  /** Provisioning console faults. */
  rejectCommit?: string;
  garbleSet?: boolean;
  pollMs?: number;
  log?: (line: string) => void;
}

export interface FlashedImage extends ReceivedFile { path: string }

/**
 * A device sitting in its bootloader: polls 'C' for a YMODEM upload, and between uploads
 * answers the provisioning console. After a batch completes (or is cancelled) it is ready
 * for the next one, like a real bootloader that stays until reset.
 */
export class Bootloader {
  readonly flashed: FlashedImage[] = [];
  readonly configs: DeviceConfig[] = [];
  /** 'C' polls written to the line (tests wait for several to be queued before a sender starts). */
  pollsSent = 0;
  /** Batches that ended in a cancel (CAN) rather than a completed transfer. */
  cancelled = 0;
  private receiver: YmodemReceiver;
  private readonly console: ProvisioningConsole;
  private readonly timer: NodeJS.Timeout;
  private consoleUntil = 0;
  private queue: Promise<void> = Promise.resolve();
  private waiters: (() => void)[] = [];
  private readonly log: (line: string) => void;

  constructor(private readonly link: ByteLink, private readonly opts: BootloaderOptions) {
    this.log = opts.log ?? (() => {});
    this.receiver = this.newReceiver();
    this.console = new ProvisioningConsole({
      commit: (config) => this.commit(config),
      ...(opts.rejectCommit ? { rejectCommit: opts.rejectCommit } : {}),
      ...(opts.garbleSet ? { garbleSet: true } : {}),
    });
    // Bytes are handled strictly in order even though file writes are asynchronous.
    link.onData((bytes) => { this.queue = this.queue.then(() => this.onData(bytes)).catch((err: unknown) => this.log(`error: ${String(err)}`)); });
    this.timer = setInterval(() => this.onTick(), 100);
    this.timer.unref();
    this.send(this.receiver.start(Date.now()));
  }

  /** Resolves after the next change (image flashed, batch ended, config committed). */
  changed(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.queue;
    await this.link.close();
  }

  private newReceiver(): YmodemReceiver {
    return new YmodemReceiver(Date.now(), { ...(this.opts.faults ? { faults: this.opts.faults } : {}), pollMs: this.opts.pollMs ?? 1000 });
  }

  private send(bytes: Uint8Array): void {
    if (bytes.length === 0 || this.opts.silent) return;
    for (const b of bytes) if (b === 0x43) this.pollsSent++;
    this.link.write(bytes);
  }

  private onTick(): void {
    // While someone is typing at the console, 'C' polls would only garble their replies.
    if (Date.now() < this.consoleUntil && this.receiver.phase === 'header') return;
    this.send(this.receiver.tick(Date.now()));
  }

  private async onData(bytes: Uint8Array): Promise<void> {
    const now = Date.now();
    const first = bytes[0]!;
    const isText = first === 0x0a || first === 0x0d || (first >= 0x20 && first <= 0x7e);
    if (this.receiver.phase === 'header' && this.receiver.idle && isText) {
      this.consoleUntil = now + 5000;
      const replies = await this.console.feed(new TextDecoder().decode(bytes));
      if (!this.opts.silent) for (const r of replies) this.link.write(new TextEncoder().encode(`${r}\n`));
      return;
    }
    const before = this.receiver.files.length;
    this.send(this.receiver.receive(bytes, now));
    for (const file of this.receiver.files.slice(before)) await this.store(file);
    if (this.receiver.phase === 'done' || this.receiver.phase === 'cancelled') {
      this.log(`batch ${this.receiver.phase} (${JSON.stringify(this.receiver.stats)})`);
      if (this.receiver.phase === 'cancelled') this.cancelled++;
      this.receiver = this.newReceiver();
      this.notify();
    }
  }

  private async store(file: ReceivedFile): Promise<void> {
    // The name comes from the host: keep only its last path segment.
    const safe = basename(file.name).replace(/[^A-Za-z0-9._-]/g, '_') || 'image.bin';
    await mkdir(this.opts.outDir, { recursive: true });
    const path = join(this.opts.outDir, safe);
    await writeFile(path, file.data);
    this.flashed.push({ ...file, path });
    this.log(`flashed ${safe}: ${file.data.length} bytes`);
  }

  private async commit(config: DeviceConfig): Promise<void> {
    await mkdir(this.opts.outDir, { recursive: true });
    await writeFile(this.opts.configPath ?? join(this.opts.outDir, 'device.json'), `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
    this.configs.push(config);
    this.log(`provisioned ${config.id} (broker ${config.broker})`);
    queueMicrotask(() => this.notify());
  }

  private notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const resolve of w) resolve();
  }
}
