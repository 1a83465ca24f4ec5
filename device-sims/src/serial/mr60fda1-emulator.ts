import { SerialEmulator, type EmulatorOptions } from './serial-emulator.js';
import { radarCommandScanner, radarFrame } from './frames.js';

export interface Mr60fda1EmulatorOptions extends Omit<EmulatorOptions, 'baudRate'> {
  /** Body-movement level is reported once a second by the module. */
  movementIntervalMs?: number;
}

/**
 * A Seeed MR60FDA1 on a pty: presence and motion on change, body movement once a second,
 * fall and stationary dwell ("long lie") on change; answers the host heartbeat by echoing
 * it and a fall-sensitivity set or query with the value in force.
 */
export class Mr60fda1Emulator extends SerialEmulator {
  present = false;
  motion: 0 | 1 | 2 = 0;
  movement = 0;
  fallen = false;
  dwelling = false;
  sensitivity = 1;
  readonly received: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly scanner = radarCommandScanner();

  constructor(private readonly o: Mr60fda1EmulatorOptions) {
    super({ ...o, baudRate: 115200 });
  }

  protected checksumIndex(f: Uint8Array): number { return f.length - 3; }
  protected onAttach(): void {
    this.report();
    clearInterval(this.timer);
    this.timer = setInterval(() => this.sendFrame(radarFrame(0x80, 0x03, [this.movement])), this.o.movementIntervalMs ?? 1000);
  }
  protected onDetach(): void { clearInterval(this.timer); this.timer = undefined; }

  /** Someone walks in (presence 1, moving) or the room empties. */
  setPresence(present: boolean, motion: 0 | 1 | 2 = present ? 2 : 0, movement = present ? 40 : 0): void {
    if (present !== this.present) { this.present = present; this.sendFrame(radarFrame(0x80, 0x01, [present ? 1 : 0])); }
    if (motion !== this.motion) { this.motion = motion; this.sendFrame(radarFrame(0x80, 0x02, [motion])); }
    this.movement = movement;
  }

  /** A fall: the fall flag, then the person lies still. */
  fall(): void {
    this.setPresence(true, 1, 2);
    if (!this.fallen) { this.fallen = true; this.sendFrame(radarFrame(0x83, 0x01, [1])); }
  }

  /** The module's stationary-dwell alarm: still on the floor (the long-lie confirmation). */
  dwell(on = true): void {
    if (on !== this.dwelling) { this.dwelling = on; this.sendFrame(radarFrame(0x83, 0x05, [on ? 1 : 0])); }
  }

  /** The person got up. */
  recover(): void {
    if (this.fallen) { this.fallen = false; this.sendFrame(radarFrame(0x83, 0x01, [0])); }
    this.dwell(false);
    this.setPresence(true, 2, 40);
  }

  private report(): void {
    this.sendFrame(radarFrame(0x80, 0x01, [this.present ? 1 : 0]));
    this.sendFrame(radarFrame(0x80, 0x02, [this.motion]));
  }

  protected onBytes(bytes: Uint8Array): void {
    for (const f of this.scanner.push(bytes)) {
      this.stats.commands++;
      const [ctrl, cmd, v] = [f[2]!, f[3]!, f[6]];
      if (ctrl === 0x01 && cmd === 0x01) { this.received.push('heartbeat'); this.sendFrame(radarFrame(0x01, 0x01, [0x0f])); }
      else if (ctrl === 0x83 && cmd === 0x0d && v !== undefined && v <= 3) {
        this.sensitivity = v;
        this.received.push(`sensitivity:${v}`);
        this.sendFrame(radarFrame(0x83, 0x0d, [v]));
      } else if (ctrl === 0x83 && cmd === 0x8d) { this.received.push('sensitivity?'); this.sendFrame(radarFrame(0x83, 0x0d, [this.sensitivity])); }
    }
    this.stats.rejectedCommands = this.scanner.rejected;
  }
}
