import { SerialEmulator, type EmulatorOptions } from './serial-emulator.js';
import { lockCommandScanner, lockFrame } from './frames.js';

export interface LockBoardEmulatorOptions extends Omit<EmulatorOptions, 'baudRate'> {
  address?: number;
  channels: number;
  /** After an open, the emulated person closes the door after this long (undefined: never). */
  autoCloseMs?: number;
  /** Channels whose latch is jammed: open answers FAIL and the door stays shut. */
  jammed?: number[];
}

/**
 * A parcel-locker lock board on a pty: answers open / query one / query all / open all for
 * its own address (others are ignored: RS-485 is a shared bus), and sends the unsolicited
 * 0x85 door report whenever a door sensor changes.
 */
export class LockBoardEmulator extends SerialEmulator {
  readonly doorsOpen: boolean[];
  readonly received: string[] = [];
  private readonly scanner = lockCommandScanner();
  private readonly address: number;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly o: LockBoardEmulatorOptions) {
    super({ ...o, baudRate: 9600 });
    this.address = o.address ?? 1;
    this.doorsOpen = Array.from({ length: o.channels }, () => false);
  }

  protected checksumIndex(f: Uint8Array): number { return f.length - 1; }
  protected onAttach(): void {}
  protected onDetach(): void { for (const t of this.timers) clearTimeout(t); this.timers.clear(); }

  /** Someone shuts (or forces open) a door: the sensor changes and the board reports it. */
  setDoor(channel: number, open: boolean): void {
    if (channel < 1 || channel > this.o.channels || this.doorsOpen[channel - 1] === open) return;
    this.doorsOpen[channel - 1] = open;
    this.sendFrame(lockFrame(this.address, 0x85, [channel, open ? 0x00 : 0x01]));
  }

  private open(channel: number): boolean {
    if (this.o.jammed?.includes(channel)) return false;
    this.setDoor(channel, true);
    if (this.o.autoCloseMs !== undefined) {
      const t = setTimeout(() => { this.timers.delete(t); this.setDoor(channel, false); }, this.o.autoCloseMs);
      this.timers.add(t);
    }
    return true;
  }

  private door(ch: number): number { return this.doorsOpen[ch - 1] ? 0x00 : 0x01; }

  protected onBytes(bytes: Uint8Array): void {
    for (const f of this.scanner.push(bytes)) {
      if (f[5] !== this.address) continue;
      this.stats.commands++;
      const cmd = f[6]!;
      const ch = f[7] ?? 0;
      const valid = ch >= 1 && ch <= this.o.channels;
      switch (cmd) {
        case 0x82: {
          this.received.push(`open:${ch}`);
          // The reply goes first; the door report follows once the latch has released.
          const ok = valid && !this.o.jammed?.includes(ch);
          this.sendFrame(lockFrame(this.address, 0x82, [ok ? 0x00 : 0xff, ch, valid && ok ? 0x00 : valid ? this.door(ch) : 0x01]));
          if (ok) this.open(ch);
          break;
        }
        case 0x83:
          this.received.push(`query:${ch}`);
          this.sendFrame(lockFrame(this.address, 0x83, [valid ? 0x00 : 0xff, ch, valid ? this.door(ch) : 0x01]));
          break;
        case 0x84:
          this.received.push('query-all');
          this.sendFrame(lockFrame(this.address, 0x84, [0x00, this.o.channels, ...this.doorsOpen.map((o) => (o ? 0x00 : 0x01))]));
          break;
        case 0x86:
          this.received.push('open-all');
          this.sendFrame(lockFrame(this.address, 0x86, [0x00]));
          for (let c = 1; c <= this.o.channels; c++) this.open(c);
          break;
        default:
      }
    }
    this.stats.rejectedCommands = this.scanner.rejected;
  }
}
