import type { Logger } from 'pino';
import { PortLink } from '../port-link.js';
import type { FramerStats } from '../protocols/stream-framer.js';

export interface DriverHooks {
  /** The port opened (and the module was put in its mode) or went away. */
  online(up: boolean, reason?: string): void;
}

export interface DriverStatus {
  online: boolean;
  port: PortLink['stats'];
  frames: FramerStats;
  /** Commands the module did not answer in time. */
  timeouts: number;
  /** Radar: times the module went silent while its port stayed open. */
  silences?: number;
  /** SDS011: firmware build date the module reported. */
  moduleFirmware?: string;
}

/**
 * The part every device driver shares: the reconnecting port, and "online" meaning the
 * port is open. Subclasses configure the module on each (re)open — a re-plugged module has
 * power-cycled and forgotten its mode — and parse what it sends.
 */
export abstract class SerialDriver {
  protected readonly link: PortLink;
  timeouts = 0;

  constructor(path: string, baudRate: number, protected readonly hooks: DriverHooks, protected readonly log: Logger,
    backoff: { minBackoffMs?: number; maxBackoffMs?: number } = {}) {
    this.link = new PortLink({ path, baudRate, ...backoff }, {
      up: () => { this.onUp(); this.hooks.online(true); },
      down: () => { this.onDown(); this.hooks.online(false); },
      data: (b) => this.onData(b),
    }, log);
  }

  start(): void {
    this.link.start();
  }

  get online(): boolean {
    return this.link.isUp;
  }

  status(): DriverStatus {
    return { online: this.online, port: { ...this.link.stats }, frames: { ...this.frameStats() }, timeouts: this.timeouts };
  }

  async close(): Promise<void> {
    this.onDown();
    await this.link.close();
  }

  protected abstract onUp(): void;
  protected abstract onDown(): void;
  protected abstract onData(bytes: Uint8Array): void;
  protected abstract frameStats(): FramerStats;
}
