import { CommandStatus, type Command } from '@yulan/protos';
import {
  RecentIds, pickFailure, planCommand, type CommandFailures, type PlanStep, type PlanTiming,
} from './command-plan.js';
import { accept, refuse, type CommandCheck } from './models/control.js';
import type { DeviceModel } from './models/index.js';

/** What the runner needs from its device; the transport passes timers and MQTT, tests fakes. */
export interface CommandRunnerHost {
  clock(): number;
  schedule(fn: () => void, delayMs: number): void;
  result(commandId: string, status: CommandStatus, message: string, output?: Record<string, string>): void;
  /** Go offline for `downMs`, then reconnect with a new birth. */
  reboot(downMs: number): void;
  /** `firmware.update` (src/firmware/, another module): gets the command after dedupe and expiry. */
  firmwareUpdate(cmd: Command): void;
  /** A command changed the device's state: real devices report such changes at once
   * (a lock board's door-change report), not at the next periodic reading. */
  stateChanged?(): void;
}

export interface CommandRunnerOptions {
  model?: DeviceModel;
  failures?: CommandFailures;
  /** Seed of the failure draws (the fleet derives it from its seed and the device id). */
  seed?: number;
  timing?: Partial<PlanTiming>;
  /** Remembered command ids (at-most-once execution); pass the same instance across
   * reboots, it stands for the device's flash. */
  recent?: RecentIds;
}

export const MAX_REMEMBERED_COMMANDS = 256;

/**
 * Dedupes by command_id, plans (pure, command-plan.ts) and runs the plan's steps on the
 * host's timers. The only side effects are the host's callbacks and the model's state.
 */
export class CommandRunner {
  readonly recent: RecentIds;
  /** Commands executed on the model (each id at most once). */
  executed = 0;

  constructor(private readonly host: CommandRunnerHost, private readonly opts: CommandRunnerOptions = {}) {
    this.recent = opts.recent ?? new RecentIds(MAX_REMEMBERED_COMMANDS);
  }

  /** Handles one delivery; false for a redelivered id (nothing is done or answered again). */
  handle(cmd: Command): boolean {
    // Delivery is at-least-once; command_id makes execution at-most-once.
    if (!this.recent.firstTime(cmd.commandId)) return false;
    const nowMs = this.host.clock();
    if (cmd.name === 'firmware.update' && !(cmd.expiresMs > 0 && nowMs > cmd.expiresMs)) {
      this.host.firmwareUpdate(cmd);
      return true;
    }
    const failure = pickFailure(this.opts.failures, this.opts.seed ?? 0, cmd.commandId);
    const timing = { ...this.opts.timing, ...(this.opts.failures?.slowMs !== undefined && { slowMs: this.opts.failures.slowMs }) };
    const steps = planCommand(cmd, { nowMs, check: this.check(cmd), failure, timing });
    for (const step of steps) {
      if (step.delayMs === 0) this.run(cmd, step);
      else this.host.schedule(() => this.run(cmd, step), step.delayMs);
    }
    return true;
  }

  private check(cmd: Command): CommandCheck {
    if (this.opts.model) return this.opts.model.checkCommand(cmd.name, cmd.args);
    return cmd.name === 'reboot' ? accept(true) : refuse(`unsupported command "${cmd.name}"`);
  }

  private run(cmd: Command, step: PlanStep): void {
    switch (step.type) {
      case 'result':
        this.host.result(cmd.commandId, step.status, step.message);
        return;
      case 'reboot':
        this.host.reboot(step.downMs);
        return;
      case 'execute': {
        let outcome: { ok: boolean; message: string; output?: Record<string, string> } = { ok: true, message: 'done' };
        if (step.effect && this.opts.model) {
          this.executed += 1;
          outcome = this.opts.model.executeCommand(cmd.name, cmd.args);
          if (outcome.ok) this.host.stateChanged?.();
        } else if (step.effect) {
          this.executed += 1;
        }
        if (step.report) {
          this.host.result(cmd.commandId, outcome.ok ? CommandStatus.SUCCEEDED : CommandStatus.FAILED, outcome.message, outcome.output);
        }
      }
    }
  }
}
