import type { Logger } from 'pino';
import { LockBoardParser, LOCK_BAUD, lockCommands, type LockReply } from '../protocols/lock-board.js';
import type { FramerStats } from '../protocols/stream-framer.js';
import { SerialDriver, type DriverHooks } from './driver.js';

export interface LockBoardHooks extends DriverHooks {
  /** Door states after a report: doors[i] is channel i+1, true = open; `changed` when any differs from before. */
  doors(doors: (boolean | undefined)[], changed: boolean): void;
}

export interface LockBoardDriverOptions {
  port: string;
  address: number;
  channels: number;
  /** How long the door sensor has to show the door open after the board accepted an open. */
  confirmMs?: number;
  /** Door states are re-read this often, in case a 0x85 report was lost on the line. */
  pollMs?: number;
  backoff?: { minBackoffMs?: number; maxBackoffMs?: number };
}

export class LockError extends Error {
  constructor(readonly code: 'E_LOCK_OFFLINE' | 'E_LOCK_NO_REPLY' | 'E_LOCK_REFUSED' | 'E_LOCK_NOT_CONFIRMED' | 'E_LOCK_CHANNEL', message: string) {
    super(message);
  }
}

/**
 * A parcel-locker lock board. Learns every door on (re)open with query-all, follows the
 * board's unsolicited door reports, re-reads all doors periodically (a report lost to
 * noise must not leave a door shown shut), and opens a door as a two-step transaction: the
 * board's reply says the latch was driven, and only the door sensor showing the door open
 * counts as done (parcel-lockers.md, "Commands an operator sends").
 */
export class LockBoardDriver extends SerialDriver {
  private readonly parser = new LockBoardParser();
  readonly doors: (boolean | undefined)[];
  private poll: NodeJS.Timeout | undefined;
  private readonly replyWaiters: { channel: number; resolve(r: LockReply | undefined): void }[] = [];
  private readonly openWaiters: { channel: number; resolve(): void }[] = [];

  constructor(private readonly o: LockBoardDriverOptions, private readonly h: LockBoardHooks, log: Logger) {
    super(o.port, LOCK_BAUD, h, log, o.backoff);
    this.doors = Array.from({ length: o.channels }, () => undefined);
  }

  protected frameStats(): FramerStats { return this.parser.stats; }

  protected onUp(): void {
    this.link.write(lockCommands.queryAll(this.o.address));
    clearInterval(this.poll);
    this.poll = setInterval(() => this.link.write(lockCommands.queryAll(this.o.address)), this.o.pollMs ?? 30_000);
  }

  protected onDown(): void {
    clearInterval(this.poll);
    this.poll = undefined;
    this.doors.fill(undefined);
    for (const w of this.replyWaiters.splice(0)) w.resolve(undefined);
  }

  /** Opens one door; resolves when the door sensor shows it open, rejects with a LockError. */
  async open(channel: number): Promise<void> {
    if (!Number.isInteger(channel) || channel < 1 || channel > this.o.channels) throw new LockError('E_LOCK_CHANNEL', `no compartment ${channel} (1..${this.o.channels})`);
    if (!this.online) throw new LockError('E_LOCK_OFFLINE', 'lock board port is down');
    const opened = this.waitOpen(channel, this.o.confirmMs ?? 10_000);
    let reply: LockReply | undefined;
    // One retry: a command frame hit by line noise is ignored by the board.
    for (let attempt = 0; attempt < 2 && !reply; attempt++) {
      const got = this.waitReply(channel, 1500);
      this.link.write(lockCommands.open(this.o.address, channel));
      reply = await got;
    }
    if (!reply) { this.timeouts++; opened.cancel(); throw new LockError('E_LOCK_NO_REPLY', `board ${this.o.address} did not answer the open`); }
    if (reply.type === 'open' && !reply.ok) { opened.cancel(); throw new LockError('E_LOCK_REFUSED', `board refused to open ${channel} (latch fault)`); }
    // The sensor may already have reported (or the reply says open); otherwise ask it.
    this.link.write(lockCommands.query(this.o.address, channel));
    if (!(await opened.done)) throw new LockError('E_LOCK_NOT_CONFIRMED', `door ${channel}: latch driven but the door sensor never showed it open`);
  }

  private waitReply(channel: number, ms: number): Promise<LockReply | undefined> {
    return new Promise((resolve) => {
      const w = { channel, resolve: (r: LockReply | undefined) => { clearTimeout(t); const i = this.replyWaiters.indexOf(w); if (i >= 0) this.replyWaiters.splice(i, 1); resolve(r); } };
      const t = setTimeout(() => w.resolve(undefined), ms);
      this.replyWaiters.push(w);
    });
  }

  private waitOpen(channel: number, ms: number): { done: Promise<boolean>; cancel(): void } {
    let finish!: (ok: boolean) => void;
    const done = new Promise<boolean>((resolve) => { finish = resolve; });
    const w = { channel, resolve: () => end(true) };
    const t = setTimeout(() => end(false), ms);
    const end = (ok: boolean) => { clearTimeout(t); const i = this.openWaiters.indexOf(w); if (i >= 0) this.openWaiters.splice(i, 1); finish(ok); };
    this.openWaiters.push(w);
    return { done, cancel: () => end(false) };
  }

  private setDoor(channel: number, open: boolean): void {
    if (channel < 1 || channel > this.o.channels) return;
    const before = this.doors[channel - 1];
    this.doors[channel - 1] = open;
    if (open) for (const w of this.openWaiters.filter((x) => x.channel === channel)) w.resolve();
    this.h.doors([...this.doors], before !== open);
  }

  protected onData(bytes: Uint8Array): void {
    for (const r of this.parser.push(bytes)) {
      if (r.address !== this.o.address) continue;
      switch (r.type) {
        case 'open':
          this.replyWaiters.find((w) => w.channel === r.channel)?.resolve(r);
          break;
        case 'status':
          if (r.ok) this.setDoor(r.channel, r.doorOpen);
          break;
        case 'door-report':
          this.setDoor(r.channel, r.doorOpen);
          break;
        case 'status-all': {
          if (!r.ok) break;
          let changed = false;
          r.doorsOpen.slice(0, this.o.channels).forEach((open, i) => {
            if (this.doors[i] !== open) changed = true;
            this.doors[i] = open;
            if (open) for (const w of this.openWaiters.filter((x) => x.channel === i + 1)) w.resolve();
          });
          this.h.doors([...this.doors], changed);
          break;
        }
        default:
      }
    }
  }
}
