import type { Logger } from 'pino';
import { RadarParser, RADAR_BAUD, radarCommands, radarSensitivityFromTwin, type RadarReport } from '../protocols/mr60fda1.js';
import type { FramerStats } from '../protocols/stream-framer.js';
import { SerialDriver, type DriverHooks, type DriverStatus } from './driver.js';

export interface RadarState {
  present: boolean;
  motion: 'none' | 'still' | 'moving';
  movement?: number;
  fall: boolean;
  dwell: boolean;
  heartRate?: number;
  breathingRate?: number;
}

export interface RadarHooks extends DriverHooks {
  /** Any report; `changed` is true for presence, motion, fall and dwell changes (sent on change only). */
  report(state: RadarState, changed: boolean, r: RadarReport): void;
}

export interface RadarDriverOptions {
  port: string;
  /** Host heartbeat period; the module answers each, which is how a silent line is noticed. */
  heartbeatMs?: number;
  /** No frame at all (not even a heartbeat answer) for this long while the port is open = the
   * module is offline (hung, lost power behind a powered hub). Default 3 heartbeats. */
  silenceMs?: number;
  backoff?: { minBackoffMs?: number; maxBackoffMs?: number };
}

/**
 * MR60FDA1 fall radar. Streams reports; the driver keeps the module's current state, sends
 * the host heartbeat, and applies the fall sensitivity (twin 1..10 → module 0..3), re-applied
 * after every re-plug because the module may have power-cycled.
 */
export class RadarDriver extends SerialDriver {
  private readonly parser = new RadarParser();
  readonly state: RadarState = { present: false, motion: 'none', fall: false, dwell: false };
  private heartbeat: NodeJS.Timeout | undefined;
  private sensitivity: number | undefined;
  private pendingSensitivity: { want: number; resolve(v: number | undefined): void; timer: NodeJS.Timeout } | undefined;
  heartbeatsAnswered = 0;
  /** The port is open but the module stopped talking. */
  silent = false;
  silences = 0;
  private watchdog: NodeJS.Timeout | undefined;

  constructor(private readonly o: RadarDriverOptions, private readonly h: RadarHooks, log: Logger) {
    super(o.port, RADAR_BAUD, h, log, o.backoff);
  }

  protected frameStats(): FramerStats { return this.parser.stats; }

  override status(): DriverStatus {
    return { ...super.status(), silences: this.silences };
  }

  override get online(): boolean {
    return this.link.isUp && !this.silent;
  }

  /** Re-armed on every frame: the module streams body movement every second and answers each
   * heartbeat, so a quiet line means the module is gone even though its adapter is still there. */
  private armWatchdog(): void {
    clearTimeout(this.watchdog);
    const ms = this.o.silenceMs ?? 3 * (this.o.heartbeatMs ?? 10_000);
    this.watchdog = setTimeout(() => {
      if (!this.link.isUp || this.silent) return;
      this.silent = true;
      this.silences++;
      this.log.warn({ silenceMs: ms }, 'radar silent while its port is open; marking it offline');
      this.h.online(false, 'serial-silent');
    }, ms);
  }

  protected onUp(): void {
    this.silent = false;
    this.armWatchdog();
    clearInterval(this.heartbeat);
    this.link.write(radarCommands.heartbeat());
    this.heartbeat = setInterval(() => this.link.write(radarCommands.heartbeat()), this.o.heartbeatMs ?? 10_000);
    if (this.sensitivity !== undefined) this.link.write(radarCommands.setFallSensitivity(this.sensitivity));
  }

  protected onDown(): void {
    clearTimeout(this.watchdog);
    this.silent = false;
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }

  /** Sets the fall sensitivity from the twin's 1..10; resolves with the module's answer (0..3), or undefined when it did not answer. */
  setSensitivity(twin: number): Promise<number | undefined> {
    const want = radarSensitivityFromTwin(twin);
    this.sensitivity = want;
    this.pendingSensitivity?.resolve(undefined);
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.pendingSensitivity = undefined; this.timeouts++; resolve(undefined); }, 3000);
      this.pendingSensitivity = { want, resolve: (v) => { clearTimeout(timer); resolve(v); }, timer };
      if (!this.link.write(radarCommands.setFallSensitivity(want))) { this.pendingSensitivity.resolve(undefined); this.pendingSensitivity = undefined; }
    });
  }

  /** Module reset (the `reboot` command). */
  reset(): boolean {
    return this.link.write(radarCommands.reset());
  }

  protected onData(bytes: Uint8Array): void {
    for (const r of this.parser.push(bytes)) {
      this.armWatchdog();
      if (this.silent) {
        // Talking again (it may have rebooted): online, and the binding re-applies its settings.
        this.silent = false;
        this.log.info('radar talking again; marking it online');
        if (this.sensitivity !== undefined) this.link.write(radarCommands.setFallSensitivity(this.sensitivity));
        this.h.online(true);
      }
      const s = this.state;
      let changed = false;
      switch (r.type) {
        case 'presence': changed = s.present !== r.present; s.present = r.present; break;
        case 'motion': changed = s.motion !== r.motion; s.motion = r.motion; break;
        case 'body-movement': s.movement = r.level; break;
        case 'fall': changed = s.fall !== r.fall; s.fall = r.fall; break;
        case 'dwell': changed = s.dwell !== r.dwelling; s.dwell = r.dwelling; break;
        case 'heart-rate': s.heartRate = r.bpm; break;
        case 'breathing-rate': s.breathingRate = r.perMin; break;
        case 'heartbeat': this.heartbeatsAnswered++; continue;
        case 'fall-sensitivity':
          if (this.pendingSensitivity) { const p = this.pendingSensitivity; this.pendingSensitivity = undefined; p.resolve(r.value); }
          continue;
        default: continue;
      }
      this.h.report({ ...s }, changed, r);
    }
  }
}
