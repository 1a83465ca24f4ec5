import { SerialEmulator, type EmulatorOptions } from './serial-emulator.js';
import { pmsAckFrame, pmsCommandScanner, pmsDataFrame, type PmsValues } from './frames.js';

export interface Pms5003EmulatorOptions extends Omit<EmulatorOptions, 'baudRate'> {
  /** Active mode sends a frame this often (the module: ~1 s when stable). */
  intervalMs?: number;
  /** After wake, readings start after this long (the datasheet: ~30 s for the fan to settle). */
  wakeSettleMs?: number;
  initial?: Partial<Pick<PmsValues, 'atm'>>;
}

/**
 * A Plantower PMS5003 on a pty: 32-byte frames; starts in active mode as the module does
 * at power-on; answers the five commands (mode and sleep with the 8-byte acknowledgement,
 * `read` with a data frame, only in passive mode); sends nothing while asleep.
 */
export class Pms5003Emulator extends SerialEmulator {
  mode: 'active' | 'passive' = 'active';
  sleeping = false;
  /** Host commands received, by name, in order (tests assert what the driver asked for). */
  readonly received: string[] = [];
  private values: PmsValues = { cf1: [5, 8, 10], atm: [5, 8, 10], counts: [900, 270, 50, 6, 2, 1] };
  private timer: NodeJS.Timeout | undefined;
  private settleUntil = 0;
  private readonly scanner = pmsCommandScanner();

  constructor(private readonly o: Pms5003EmulatorOptions) {
    super({ ...o, baudRate: 9600 });
    if (o.initial?.atm) this.set(o.initial.atm);
  }

  /** Sets the atmospheric PM1/PM2.5/PM10 (CF=1 follows, as indoors they are equal up to ~30 µg/m³). */
  set(atm: [number, number, number]): void {
    this.values = { ...this.values, atm, cf1: atm.map((x) => (x <= 30 ? x : Math.round(x * 1.3))) as [number, number, number] };
  }

  protected checksumIndex(f: Uint8Array): number { return f.length - 1; }

  protected onAttach(): void {
    // A power cycle (re-plug) restarts the module in active mode, awake.
    this.mode = 'active';
    this.sleeping = false;
    this.schedule();
  }
  protected onDetach(): void { clearInterval(this.timer); this.timer = undefined; }

  private schedule(): void {
    clearInterval(this.timer);
    this.timer = setInterval(() => {
      if (this.mode === 'active' && !this.sleeping && Date.now() >= this.settleUntil) this.sendFrame(pmsDataFrame(this.values));
    }, this.o.intervalMs ?? 1000);
  }

  protected onBytes(bytes: Uint8Array): void {
    for (const f of this.scanner.push(bytes)) {
      this.stats.commands++;
      const [cmd, data] = [f[2]!, f[4]!];
      if (cmd === 0xe1) {
        this.mode = data === 1 ? 'active' : 'passive';
        this.received.push(this.mode);
        this.sendFrame(pmsAckFrame(cmd, data));
      } else if (cmd === 0xe2) {
        this.received.push('read');
        if (this.mode === 'passive' && !this.sleeping) this.sendFrame(pmsDataFrame(this.values));
      } else if (cmd === 0xe4) {
        this.received.push(data === 1 ? 'wake' : 'sleep');
        if (data === 0) {
          this.sleeping = true;
          this.sendFrame(pmsAckFrame(cmd, data));
        } else if (this.sleeping) {
          // Wake is not acknowledged: the module restarts its fan and reports when settled.
          this.sleeping = false;
          this.settleUntil = Date.now() + (this.o.wakeSettleMs ?? 30_000);
        }
      }
    }
    this.stats.rejectedCommands = this.scanner.rejected;
  }
}
