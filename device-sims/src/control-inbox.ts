import type { Logger } from 'pino';
import { Command, TwinDesired, type TwinReported } from '@yulan/protos';
import type { CommandRunner } from './command-runner.js';
import type { DeviceModel } from './models/index.js';
import type { SimDeviceStats } from './sim-device-options.js';
import { INITIAL_TWIN, applyTwinDesired, twinReport, type TwinMemory } from './twin.js';

export interface ControlInboxOptions {
  commandTopic: string;
  twinTopic: string;
  model: DeviceModel | undefined;
  runner: CommandRunner;
  stats: SimDeviceStats;
  log: Logger;
  /** Publishes a TwinReported (the transport adds the header). */
  report(report: Omit<TwinReported, 'header'>): void;
}

/**
 * What arrives at a device from the cloud: commands (to the command runner) and desired
 * twin states (applied to the model, then reported). Holds the twin memory; the MQTT
 * transport (sim-device.ts) only hands messages in.
 */
export class ControlInbox {
  private twin: TwinMemory = INITIAL_TWIN;

  constructor(private readonly o: ControlInboxOptions) {}

  /** The current twin report, sent after every birth so the cloud can catch a device up. */
  reportCurrent(): void {
    this.o.report(twinReport(this.o.model, this.twin));
  }

  handle(topic: string, payload: Buffer): void {
    const isCmd = topic === this.o.commandTopic;
    if (!isCmd && topic !== this.o.twinTopic) return;
    let decoded: Command | TwinDesired;
    try {
      decoded = isCmd ? Command.decode(payload) : TwinDesired.decode(payload);
    } catch (err) {
      // A bad payload must not take the device down; it is counted and dropped.
      this.o.stats.malformed += 1;
      this.o.log.warn({ err, topic, bytes: payload.length }, 'undecodable payload dropped');
      return;
    }
    if (isCmd) {
      const cmd = decoded as Command;
      if (!this.o.runner.handle(cmd)) return;
      this.o.stats.commands += 1;
      this.o.log.info({ command: cmd.name, commandId: cmd.commandId }, 'command received');
      return;
    }
    const r = applyTwinDesired(this.o.model, this.twin, decoded as TwinDesired);
    this.twin = r.mem;
    if (r.applied) {
      this.o.stats.twinUpdates += 1;
      this.o.log.info({ version: r.mem.appliedVersion, error: r.mem.error || undefined }, 'twin applied');
    }
    this.o.report(r.report);
  }
}
