import type { Logger } from 'pino';
import { PmsParser, PMS_BAUD, pmsCommands } from '../protocols/pms5003.js';
import { SdsParser, SDS_BAUD, sdsCommands } from '../protocols/sds011.js';
import type { FramerStats } from '../protocols/stream-framer.js';
import { SerialDriver, type DriverHooks, type DriverStatus } from './driver.js';

export interface PmSample { pm1?: number; pm25: number; pm10: number; tsMs: number }

export interface PmDriverOptions {
  sensor: 'pms5003' | 'sds011';
  port: string;
  /** passive: the gateway asks for each reading; active: the module streams, the gateway keeps the latest. */
  mode: 'passive' | 'active';
  /** One reading published this often. */
  intervalMs: number;
  /**
   * Sleep the sensor between readings when the interval allows (the PMS5003's laser and
   * fan wear out, ~8,000 h): it is woken settleMs before the next reading.
   */
  dutyCycle: boolean;
  settleMs: number;
  backoff?: { minBackoffMs?: number; maxBackoffMs?: number };
}

export interface PmHooks extends DriverHooks {
  sample(s: PmSample): void;
  /** SDS011: the module's firmware date and id, answered to the request sent on every open; called when it differs from the last known. */
  firmware?(version: string, moduleId: string): void;
}

/**
 * PMS5003 or SDS011 particulate sensor. On every (re)open it sets the reporting mode
 * (PMS5003 active/passive, SDS011 active/query); then either polls (passive/query) or keeps
 * the latest streamed frame, and publishes one sample per interval. With a duty cycle it
 * sleeps the module between samples and wakes it for the settle time before the next.
 */
export class PmDriver extends SerialDriver {
  private readonly pms = new PmsParser();
  private readonly sds = new SdsParser();
  private timer: NodeJS.Timeout | undefined;
  private latest: PmSample | undefined;
  private waitingRead = false;
  private asleep = false;
  /** Operator's env.sleep: stays asleep until env.wake. */
  private held = false;
  private lastConfigureMs = 0;
  /** Times the module was found out of its configured mode and set again. */
  reconfigured = 0;
  /** SDS011 firmware as `YYYY-MM-DD` (the module reports its build date) and module id, once it answered. */
  moduleFirmware: { version: string; moduleId: string } | undefined;
  private firmwareAnswered = false;

  constructor(private o: PmDriverOptions, private readonly h: PmHooks, log: Logger) {
    super(o.port, o.sensor === 'pms5003' ? PMS_BAUD : SDS_BAUD, h, log, o.backoff);
  }

  get sleeping(): boolean { return this.asleep; }

  setInterval(ms: number): void {
    this.o = { ...this.o, intervalMs: ms };
    if (this.online) this.cycle();
  }

  /** env.sleep / env.wake from the operator. Returns false when the port is down. */
  hold(sleep: boolean): boolean {
    this.held = sleep;
    if (!this.online) return false;
    if (sleep) { clearTimeout(this.timer); this.sleep(); } else { this.wake(); this.cycle(); }
    return true;
  }

  protected frameStats(): FramerStats {
    const a = this.pms.stats;
    const b = this.sds.stats;
    return this.o.sensor === 'pms5003' ? a : b;
  }

  override status(): DriverStatus {
    return { ...super.status(), ...(this.moduleFirmware && { moduleFirmware: this.moduleFirmware.version }) };
  }

  protected onUp(): void {
    this.asleep = false;
    this.firmwareAnswered = false;
    this.configure();
    if (this.held) this.sleep();
    else this.cycle();
  }

  /** Puts the module in the configured mode. Sent on every open, and again whenever the
   * module shows it lost it (a power cycle can happen before the port is opened, and the
   * bytes sent to a module still booting are lost). */
  private configure(): void {
    this.lastConfigureMs = Date.now();
    if (this.o.sensor === 'pms5003') this.link.write(this.o.mode === 'passive' ? pmsCommands.passive() : pmsCommands.active());
    else {
      this.link.write(sdsCommands.work());
      this.link.write(sdsCommands.setWorkingPeriod(0));
      this.link.write(sdsCommands.setReportingMode(this.o.mode === 'passive' ? 'query' : 'active'));
      // Asked on every open (a re-plugged adapter may carry another module) and again with
      // each reconfigure until answered (the reply can be lost like any frame). The answer is
      // `AA C5 07 YY MM DD id id` (Nova protocol V1.3; the domain file is silent on it).
      if (!this.firmwareAnswered) this.link.write(sdsCommands.firmware());
    }
  }

  protected onDown(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.latest = undefined;
  }

  private sleepsBetween(): boolean {
    return this.o.dutyCycle && this.o.intervalMs >= 2 * this.o.settleMs;
  }

  /** One sampling period: (wake → settle) → read → publish → (sleep). */
  private cycle(): void {
    clearTimeout(this.timer);
    const duty = this.sleepsBetween();
    const settle = duty && this.asleep ? this.o.settleMs : 0;
    if (settle > 0) this.wake();
    this.timer = setTimeout(() => this.sampleNow(), duty ? settle : this.o.intervalMs);
  }

  private sampleNow(): void {
    if (this.o.mode === 'passive') {
      this.waitingRead = true;
      this.link.write(this.o.sensor === 'pms5003' ? pmsCommands.read() : sdsCommands.query());
      // No answer within 2 s: count it and go on with the next period.
      this.timer = setTimeout(() => {
        if (this.waitingRead) { this.waitingRead = false; this.timeouts++; this.configure(); }
        this.next();
      }, 2000);
    } else {
      if (this.latest) this.h.sample(this.latest);
      this.latest = undefined;
      this.next();
    }
  }

  private next(): void {
    clearTimeout(this.timer);
    if (this.sleepsBetween()) {
      this.sleep();
      this.timer = setTimeout(() => this.cycle(), this.o.intervalMs - this.o.settleMs);
    } else {
      this.timer = setTimeout(() => this.sampleNow(), this.o.intervalMs);
    }
  }

  private sleep(): void {
    this.asleep = true;
    this.link.write(this.o.sensor === 'pms5003' ? pmsCommands.sleep() : sdsCommands.sleep());
  }

  private wake(): void {
    this.asleep = false;
    this.link.write(this.o.sensor === 'pms5003' ? pmsCommands.wake() : sdsCommands.work());
  }

  private noteFirmware(year: number, month: number, day: number, deviceId: number): void {
    const p2 = (n: number) => String(n).padStart(2, '0');
    const version = `20${p2(year)}-${p2(month)}-${p2(day)}`;
    const moduleId = deviceId.toString(16).toUpperCase().padStart(4, '0');
    this.firmwareAnswered = true;
    if (this.moduleFirmware?.version === version && this.moduleFirmware.moduleId === moduleId) return;
    this.moduleFirmware = { version, moduleId };
    this.log.info({ firmware: version, moduleId }, 'SDS011 firmware');
    this.h.firmware?.(version, moduleId);
  }

  protected onData(bytes: Uint8Array): void {
    const now = Date.now();
    const samples: PmSample[] = [];
    if (this.o.sensor === 'pms5003') {
      for (const f of this.pms.push(bytes)) if (f.type === 'reading') samples.push({ pm1: f.atm.pm1, pm25: f.atm.pm25, pm10: f.atm.pm10, tsMs: now });
    } else {
      for (const f of this.sds.push(bytes)) {
        if (f.type === 'reading') samples.push({ pm25: f.pm25, pm10: f.pm10, tsMs: now });
        else if (f.type === 'firmware') this.noteFirmware(f.year, f.month, f.day, f.deviceId);
      }
    }
    const s = samples.at(-1);
    if (!s) return;
    if (this.o.mode === 'passive' && this.waitingRead) {
      this.waitingRead = false;
      this.h.sample(s);
      this.next();
    } else if (this.o.mode === 'active') {
      this.latest = s;
    } else if (Date.now() - this.lastConfigureMs > 1000) {
      // A frame nobody asked for: the module is streaming (back in its power-on active mode).
      this.reconfigured++;
      this.configure();
    }
  }
}
