import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';

/**
 * Holds devices back after a restart until the persistent subscribers are back.
 *
 * With the default in-memory persistence a broker restart loses every session, the edge's
 * subscriptions included. Devices reconnect within a second and publish; whatever they
 * publish before the edge has subscribed again is acknowledged to them and routed to
 * nobody — a fall or an SOS among it. So the broker remembers (in a small file) which
 * service clients held persistent sessions, and after a restart refuses device CONNECTs
 * with "server unavailable" (devices retry) until each of them has subscribed again, or
 * until `holdMs` has passed (a subscriber that never comes back must not keep the fleet
 * out for good). Not used with Redis: sessions survive there.
 */
export class StartupHold {
  readonly #file: string;
  readonly #known: Set<string>;
  readonly #waiting: Set<string>;
  readonly #until: number;
  readonly #logger: Logger;

  constructor(file: string, holdMs: number, logger: Logger, now = Date.now()) {
    this.#file = file;
    this.#logger = logger;
    this.#known = new Set(read(file, logger));
    this.#waiting = holdMs > 0 ? new Set(this.#known) : new Set();
    this.#until = now + holdMs;
    if (this.#waiting.size > 0) {
      logger.info({ waitingFor: [...this.#waiting], holdMs }, 'holding devices back until persistent subscribers subscribe again');
    }
  }

  /** Whether a device CONNECT must be refused now. */
  holding(now = Date.now()): boolean {
    return this.#waiting.size > 0 && now < this.#until;
  }

  /** A service client subscribed: releases the hold for it; remembers persistent ones. */
  subscribed(clientId: string, persistent: boolean): void {
    if (this.#waiting.delete(clientId) && this.#waiting.size === 0) this.#logger.info('persistent subscribers are back; devices admitted');
    if (persistent && !this.#known.has(clientId)) {
      this.#known.add(clientId);
      write(this.#file, [...this.#known], this.#logger);
    }
  }
}

function read(file: string, logger: Logger): string[] {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') logger.warn({ err, file }, 'unreadable persistent-subscriber list; not holding devices');
    return [];
  }
}

function write(file: string, ids: string[], logger: Logger): void {
  try {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(`${file}.tmp`, JSON.stringify(ids), { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
  } catch (err) {
    logger.warn({ err, file }, 'could not record persistent subscribers');
  }
}
