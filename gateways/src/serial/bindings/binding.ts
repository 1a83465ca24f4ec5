import { CommandStatus, type Command, type TwinDesired } from '@yulan/protos';
import type { DeviceSession } from '../device-session.js';
import type { DriverStatus } from '../drivers/driver.js';

/** One configured device: its driver on the serial side, its session on the MQTT side. */
export interface Binding {
  start(): void;
  close(): Promise<void>;
  status(): DriverStatus;
  /** A command already deduplicated and within its expiry. */
  command(cmd: Command): void;
  /** A desired twin newer than the last applied. */
  twin(desired: TwinDesired): void;
}

/**
 * Delivery is at least once and the cloud re-sends an unacknowledged command every few
 * seconds: a command id is executed at most once (docs/control.md §1), and an expired one
 * is answered EXPIRED without touching the hardware.
 */
export class CommandGate {
  private readonly seen = new Set<string>();
  private appliedTwin = 0;
  constructor(private readonly session: () => DeviceSession, private readonly binding: () => Binding) {}

  command(cmd: Command): void {
    if (this.seen.has(cmd.commandId)) return;
    this.seen.add(cmd.commandId);
    if (this.seen.size > 256) this.seen.delete(this.seen.values().next().value as string);
    if (cmd.expiresMs > 0 && Date.now() > cmd.expiresMs) {
      this.session().result(cmd.commandId, CommandStatus.EXPIRED, 'expired before it reached the gateway');
      return;
    }
    this.binding().command(cmd);
  }

  twin(d: TwinDesired): void {
    if (d.version <= this.appliedTwin) return;
    this.appliedTwin = d.version;
    this.binding().twin(d);
  }
}
