import { SerialEmulator, type EmulatorOptions } from './serial-emulator.js';
import { sdsCommandScanner, sdsDataFrame, sdsReplyFrame } from './frames.js';

export interface Sds011EmulatorOptions extends Omit<EmulatorOptions, 'baudRate'> {
  id?: number;
  /** Continuous active mode reports this often (the module: 1 s). */
  intervalMs?: number;
  /** One "minute" of the working period (compress it in tests). */
  minuteMs?: number;
  firmware?: [number, number, number];
}

/**
 * A Nova SDS011 on a pty: active reporting every second (or once per working period),
 * query mode, sleep/work, working period, firmware version; every set/query is answered
 * with an `AA C5` reply, a query-data with an `AA C0` frame. Commands addressed to another
 * id are ignored, as on a shared line.
 */
export class Sds011Emulator extends SerialEmulator {
  reporting: 'active' | 'query' = 'active';
  sleeping = false;
  periodMin = 0;
  readonly received: string[] = [];
  pm25 = 12.3;
  pm10 = 20.5;
  private timer: NodeJS.Timeout | undefined;
  private readonly scanner = sdsCommandScanner();
  private readonly id: number;

  constructor(private readonly o: Sds011EmulatorOptions) {
    super({ ...o, baudRate: 9600 });
    this.id = o.id ?? 0x60a1;
  }

  protected checksumIndex(): number { return 8; }
  protected onAttach(): void { this.schedule(); }
  protected onDetach(): void { clearInterval(this.timer); this.timer = undefined; }

  private schedule(): void {
    clearInterval(this.timer);
    const every = this.periodMin === 0 ? (this.o.intervalMs ?? 1000) : this.periodMin * (this.o.minuteMs ?? 60_000);
    this.timer = setInterval(() => {
      if (this.reporting === 'active' && !this.sleeping) this.sendFrame(sdsDataFrame(this.pm25, this.pm10, this.id));
    }, every);
  }

  protected onBytes(bytes: Uint8Array): void {
    for (const f of this.scanner.push(bytes)) {
      const target = f[15]! | (f[16]! << 8);
      if (target !== 0xffff && target !== this.id) continue;
      this.stats.commands++;
      const [cmd, set, v] = [f[2]!, f[3] === 1, f[4]!];
      switch (cmd) {
        case 0x02:
          if (set) this.reporting = v === 1 ? 'query' : 'active';
          this.received.push(`mode:${this.reporting}`);
          this.sendFrame(sdsReplyFrame(0x02, [set ? 1 : 0, this.reporting === 'query' ? 1 : 0, 0], this.id));
          break;
        case 0x04:
          this.received.push('query');
          if (!this.sleeping) this.sendFrame(sdsDataFrame(this.pm25, this.pm10, this.id));
          break;
        case 0x06:
          if (set) this.sleeping = v === 0;
          this.received.push(this.sleeping ? 'sleep' : 'work');
          this.sendFrame(sdsReplyFrame(0x06, [set ? 1 : 0, this.sleeping ? 0 : 1, 0], this.id));
          break;
        case 0x07:
          this.received.push('firmware');
          this.sendFrame(sdsReplyFrame(0x07, this.o.firmware ?? [18, 11, 16], this.id));
          break;
        case 0x08:
          if (set) { this.periodMin = Math.min(30, v); this.schedule(); }
          this.received.push(`period:${this.periodMin}`);
          this.sendFrame(sdsReplyFrame(0x08, [set ? 1 : 0, this.periodMin, 0], this.id));
          break;
        default:
      }
    }
    this.stats.rejectedCommands = this.scanner.rejected;
  }
}
