import { CommandStatus, type Command } from '@yulan/protos';

/** One command result to send, after `delayMs` (0 = now). */
export interface PlannedResult {
  status: CommandStatus;
  message: string;
  delayMs: number;
}

/**
 * What a simulated device answers to a command: pure, so the behaviour is tested without a
 * broker. Expired commands are refused; `reboot` is accepted, then succeeds after the
 * reboot delay; anything else is rejected as unsupported.
 */
export function planCommand(cmd: Command, nowMs: number, rebootDelayMs: number): PlannedResult[] {
  if (cmd.expiresMs > 0 && nowMs > cmd.expiresMs) {
    return [{ status: CommandStatus.EXPIRED, message: 'command expired before delivery', delayMs: 0 }];
  }
  if (cmd.name === 'reboot') {
    return [
      { status: CommandStatus.ACCEPTED, message: 'rebooting', delayMs: 0 },
      { status: CommandStatus.SUCCEEDED, message: 'rebooted', delayMs: rebootDelayMs },
    ];
  }
  return [{ status: CommandStatus.REJECTED, message: `unsupported command "${cmd.name}"`, delayMs: 0 }];
}

/** The last `capacity` command ids, so a redelivered command is executed at most once. */
export class RecentIds {
  private readonly ids: string[] = [];
  constructor(private readonly capacity: number) {}

  /** True the first time an id is offered (and remembers it). */
  firstTime(id: string): boolean {
    if (this.ids.includes(id)) return false;
    this.ids.push(id);
    if (this.ids.length > this.capacity) this.ids.shift();
    return true;
  }
}
