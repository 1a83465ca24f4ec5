import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { Channel, Command, CommandStatus as WireStatus, deviceTopic, kindFromSlug, type CommandResult, type DeviceAddress } from '@yulan/protos';
import { CloudError, CloudErrorCode } from '../errors.js';
import type { DeviceRepository } from '../repositories/device-repository.js';
import type { MqttTransport } from '../mqtt-link.js';
import { validateCommand } from './catalog.js';
import { checkCommandRules } from './command-rules.js';
import { atDeadline, confirmationMode, observe, type AwaitingCommand, type Observation, type Progress } from './confirm.js';
import { CommandStatus, isFinal, type CommandRow, type ControlStore } from './store.js';

export interface NewCommand { name: string; args?: Record<string, string | number | boolean>; expiresInSec?: number; timeoutSec?: number }
export interface CommandServiceOptions {
  store: ControlStore;
  devices: DeviceRepository;
  mqtt: MqttTransport;
  logger: Logger;
  now?: () => number;
  /** how often due times are checked (durable: they live in the DB) */
  sweepMs?: number;
  /** re-publish a sent, unacknowledged command this often (devices dedupe by command_id) */
  resendMs?: number;
}
export const DEFAULT_TIMEOUT_SEC = 30;
export const DEFAULT_EXPIRES_SEC = 600;
const { Queued, Sent, Acknowledged } = CommandStatus;

/**
 * Command lifecycle (docs/control.md §1): queued → sent → acknowledged → succeeded |
 * failed | timed_out | expired. Every move is a guarded store transition, so a late
 * result, a racing sweep or a restart can never move a final command.
 */
export class CommandService {
  readonly stats = { unknownCommand: 0, foreignResult: 0, published: 0, publishFailed: 0 };
  private readonly store: ControlStore;
  private readonly devices: DeviceRepository;
  private readonly mqtt: MqttTransport;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly sweepMs: number;
  private readonly resendMs: number;
  private readonly changes = new EventEmitter();
  /** presence as seen here (fresher than the registry, which batches its writes) */
  private readonly online = new Map<string, boolean>();
  private readonly watched = new Set<string>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;
  /** per device, the tail of its message handling: one device's results and observations
   * are applied in arrival order, as they were when the store was synchronous */
  private readonly queues = new Map<string, Promise<void>>();

  constructor(o: CommandServiceOptions) {
    this.store = o.store; this.devices = o.devices; this.mqtt = o.mqtt; this.log = o.logger;
    this.now = o.now ?? Date.now; this.sweepMs = o.sweepMs ?? 1000; this.resendMs = o.resendMs ?? 5000;
    this.changes.setMaxListeners(0);
  }

  /** Re-arms after a restart: watch devices with commands in flight, then sweep periodically. */
  async start(): Promise<void> {
    for (const row of await this.store.activeCommands()) await this.syncWatch(row);
    await this.sweep();
    this.sweepTimer = setInterval(() => void this.sweep(), this.sweepMs);
    this.sweepTimer.unref();
  }

  async close(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    await this.sweeping;
    await Promise.allSettled([...this.queues.values()]);
  }

  /** Runs `fn` after everything queued for `deviceId`; its error is the caller's. */
  private inOrder(deviceId: string, fn: () => Promise<void>): Promise<void> {
    const run = (this.queues.get(deviceId) ?? Promise.resolve()).then(fn);
    const tail = run.catch(() => undefined);
    this.queues.set(deviceId, tail);
    void tail.then(() => { if (this.queues.get(deviceId) === tail) this.queues.delete(deviceId); });
    return run;
  }

  async create(deviceId: string, input: NewCommand, idempotencyKey?: string, requestedBy?: string): Promise<{ row: CommandRow; created: boolean }> {
    const device = await this.devices.get(deviceId);
    if (!device) throw new CloudError(CloudErrorCode.NotFound, `device "${deviceId}" is not registered`);
    if (device.status === 'disabled') throw new CloudError(CloudErrorCode.Conflict, `device "${deviceId}" is disabled`);
    const args = validateCommand(device.kind, input.name, input.args ?? {});
    if (idempotencyKey !== undefined) {
      const prior = await this.store.byIdempotencyKey(deviceId, idempotencyKey);
      if (prior) {
        if (prior.name !== input.name || prior.args !== JSON.stringify(args)) {
          throw new CloudError(CloudErrorCode.Conflict, `Idempotency-Key "${idempotencyKey}" was used for a different command`);
        }
        return { row: prior, created: false };
      }
    }
    // after the idempotency look-up: a retry of a stored reservation is not refused for its clock
    const now = this.now();
    checkCommandRules(input.name, args, now);
    let row: CommandRow;
    try {
      row = await this.store.insertCommand({
        id: `cmd_${randomBytes(9).toString('base64url')}`, device_id: deviceId, site: device.site, kind: device.kind,
        name: input.name, args: JSON.stringify(args), idempotency_key: idempotencyKey ?? null,
        timeout_ms: (input.timeoutSec ?? DEFAULT_TIMEOUT_SEC) * 1000, created_at: now,
        expires_at: now + (input.expiresInSec ?? DEFAULT_EXPIRES_SEC) * 1000, requested_by: requestedBy ?? null,
      });
    } catch (err) {
      // The same key sent twice at once (to this cloud or another): the one stored first answers both.
      if (!(err instanceof CloudError && err.code === CloudErrorCode.Duplicate) || idempotencyKey === undefined) throw err;
      return this.create(deviceId, input, idempotencyKey, requestedBy);
    }
    this.log.info({ commandId: row.id, deviceId, name: row.name, actor: requestedBy }, 'command queued');
    const online = this.online.get(deviceId) ?? device.status === 'online';
    return { row: (online && this.mqtt.connected() ? await this.dispatch(row) : undefined) ?? row, created: true };
  }

  get(id: string): Promise<CommandRow | undefined> { return this.store.getCommand(id); }
  list(deviceId: string, opts: Parameters<ControlStore['listCommands']>[1]) { return this.store.listCommands(deviceId, opts); }
  transitionsOf(id: string) { return this.store.transitions(id); }

  /** Resolves with the row once it is final or `ms` passed (long-poll). */
  async waitFinal(id: string, ms: number): Promise<CommandRow | undefined> {
    const row = await this.store.getCommand(id);
    if (!row || isFinal(row.status) || ms <= 0) return row;
    await new Promise<void>((resolve) => {
      const done = (): void => { clearTimeout(timer); this.changes.off(id, onChange); resolve(); };
      const onChange = (r: CommandRow): void => { if (isFinal(r.status)) done(); };
      const timer = setTimeout(done, ms);
      this.changes.on(id, onChange);
    });
    return this.store.getCommand(id);
  }

  onResult(addr: DeviceAddress, msg: CommandResult): Promise<void> {
    return this.inOrder(addr.deviceId, () => this.applyResult(addr, msg));
  }

  private async applyResult(addr: DeviceAddress, msg: CommandResult): Promise<void> {
    const row = await this.store.getCommand(msg.commandId);
    if (!row) { this.stats.unknownCommand++; return; }
    if (row.device_id !== addr.deviceId) { this.stats.foreignResult++; return; }
    const now = this.now();
    const output = Object.keys(msg.output).length > 0 ? JSON.stringify(msg.output) : row.output;
    switch (msg.status) {
      case WireStatus.ACCEPTED:
      case WireStatus.SUCCEEDED:
        // Commands whose whole effect is the answer (confirm.ts, 'answer') succeed on it.
        if (msg.status === WireStatus.SUCCEEDED && confirmationMode(row.name) === 'answer') {
          await this.move(row, [Queued, Sent, Acknowledged], CommandStatus.Succeeded, now, { output, acked_at: row.acked_at ?? now });
          return;
        }
        // The device's word is an ACK; success needs the effect in its own telemetry.
        if (row.status === Acknowledged) { await this.move(row, [Acknowledged], Acknowledged, now, { output }); return; }
        await this.move(row, [Queued, Sent], Acknowledged, now, {
          acked_at: now, output, progress: '{}',
          ack_seq: msg.header?.seq ?? null, ack_device_ts: msg.header?.tsMs || null,
          // a result for a command still queued here (sent before a restart) starts its clock now
          deadline_at: row.deadline_at ?? now + row.timeout_ms,
        });
        return;
      case WireStatus.REJECTED:
        await this.move(row, [Queued, Sent, Acknowledged], CommandStatus.Failed, now, { output, message: `rejected: ${msg.message || 'no reason given'}` });
        return;
      case WireStatus.FAILED:
        await this.move(row, [Queued, Sent, Acknowledged], CommandStatus.Failed, now, { output, message: `device failed: ${msg.message || 'no reason given'}` });
        return;
      case WireStatus.EXPIRED:
        await this.move(row, [Queued, Sent, Acknowledged], CommandStatus.Expired, now, { output, message: 'device: expired' });
        return;
      default:
        throw new CloudError(CloudErrorCode.Validation, `command result with status ${msg.status}`);
    }
  }

  /** A decoded telemetry / event / presence of a device: confirms commands awaiting it. */
  onObservation(deviceId: string, obs: Observation): Promise<void> {
    return this.inOrder(deviceId, () => this.applyObservation(deviceId, obs));
  }

  private async applyObservation(deviceId: string, obs: Observation): Promise<void> {
    if (obs.type === 'presence') {
      this.online.set(deviceId, obs.msg.online);
      if (obs.msg.online) await this.deliver(deviceId);
    }
    for (const row of await this.store.activeCommands(deviceId)) {
      if (row.status !== Acknowledged) continue;
      const progress = JSON.parse(row.progress ?? '{}') as Progress;
      const v = observe(this.awaiting(row), progress, obs);
      const now = this.now();
      if (v.outcome === 'confirmed') await this.move(row, [Acknowledged], CommandStatus.Succeeded, now);
      else if (v.outcome === 'failed') await this.move(row, [Acknowledged], CommandStatus.Failed, now, { message: v.reason });
      else if (JSON.stringify(v.progress) !== (row.progress ?? '{}')) await this.move(row, [Acknowledged], Acknowledged, now, { progress: JSON.stringify(v.progress) });
    }
  }

  /** Sends what waits for an online device: queued commands, and unacknowledged ones again. */
  async deliver(deviceId: string): Promise<void> {
    if (!this.mqtt.connected()) return;
    for (const row of await this.store.activeCommands(deviceId)) {
      if (row.status === Queued) await this.dispatch(row);
      else if (row.status === Sent) await this.publish(row, this.now());
    }
  }

  /** Due times: expiry of queued commands, deadlines of sent/acknowledged ones, resends. */
  sweep(): Promise<void> {
    // One sweep at a time: a slow database must not stack them up.
    this.sweeping ??= this.sweepOnce().finally(() => { this.sweeping = undefined; });
    return this.sweeping;
  }

  private async sweepOnce(): Promise<void> {
    try {
      const now = this.now();
      for (const row of await this.store.activeCommands()) {
        if (row.status === Queued && now >= row.expires_at) {
          await this.move(row, [Queued], CommandStatus.Expired, now, { message: 'expired before delivery' });
        } else if (row.status === Sent && row.deadline_at !== null && now >= row.deadline_at) {
          await this.move(row, [Sent], CommandStatus.TimedOut, now, { message: 'no answer from the device' });
        } else if (row.status === Acknowledged && row.deadline_at !== null && now >= row.deadline_at) {
          const v = atDeadline(this.awaiting(row), JSON.parse(row.progress ?? '{}') as Progress);
          if (v.outcome === 'confirmed') await this.move(row, [Acknowledged], CommandStatus.Succeeded, now);
          else await this.move(row, [Acknowledged], CommandStatus.Failed, now, { message: v.outcome === 'failed' ? v.reason : 'no effect' });
        } else if (row.status === Sent && now - (row.last_sent_at ?? 0) >= this.resendMs && this.mqtt.connected()) {
          await this.publish(row, now);
        }
      }
    } catch (err) {
      this.log.error({ err }, 'command sweep failed');
    }
  }

  private async dispatch(row: CommandRow): Promise<CommandRow | undefined> {
    const now = this.now();
    if (now >= row.expires_at) return this.move(row, [Queued], CommandStatus.Expired, now, { message: 'expired before delivery' });
    // Guarded: of two clouds dispatching one queued command, one sends it.
    const sent = await this.move(row, [Queued], Sent, now, { sent_at: now, deadline_at: now + row.timeout_ms });
    if (sent) await this.publish(sent, now);
    return sent;
  }

  private async publish(row: CommandRow, now: number): Promise<void> {
    // A command that left "sent" meanwhile (answered, timed out) is not sent again.
    if (!(await this.store.transition(row.id, [Sent], Sent, now, { last_sent_at: now }))) return;
    const payload = Command.encode({ commandId: row.id, name: row.name, args: JSON.parse(row.args) as Record<string, string>, issuedMs: row.created_at, expiresMs: row.expires_at });
    this.mqtt.publish(deviceTopic(this.addr(row), Channel.Command), payload, { qos: 1 }).then(
      () => { this.stats.published++; },
      (err: unknown) => { this.stats.publishFailed++; this.log.warn({ err, commandId: row.id }, 'command publish failed; will re-send'); },
    );
  }

  private async move(row: CommandRow, from: readonly CommandStatus[], to: CommandStatus, at: number, patch: Parameters<ControlStore['transition']>[4] = {}): Promise<CommandRow | undefined> {
    const next = await this.store.transition(row.id, from, to, at, patch);
    if (!next) return undefined;
    if (to !== row.status) this.log.info({ commandId: row.id, deviceId: row.device_id, from: row.status, to, message: patch.message }, 'command status');
    await this.syncWatch(next);
    this.changes.emit(row.id, next);
    return next;
  }

  /** Subscribe (QoS 0) to one device's telemetry + event while a command of it awaits
   * confirmation; unsubscribe when none does. The ACL allows exactly these exact topics. */
  private async syncWatch(row: CommandRow): Promise<void> {
    const need = (await this.store.activeCommands(row.device_id)).some((r) => r.status === Sent || r.status === Acknowledged);
    if (need === this.watched.has(row.device_id)) return;
    const topics = [deviceTopic(this.addr(row), Channel.Telemetry), deviceTopic(this.addr(row), Channel.Event)];
    if (need) { this.watched.add(row.device_id); for (const t of topics) this.mqtt.subscribe(t, 0, 'commands'); }
    else { this.watched.delete(row.device_id); for (const t of topics) this.mqtt.unsubscribe(t, 'commands'); }
  }

  watching(): string[] { return [...this.watched]; }

  private addr(row: CommandRow): DeviceAddress {
    return { site: row.site, kind: kindFromSlug(row.kind)!, deviceId: row.device_id };
  }

  private awaiting(row: CommandRow): AwaitingCommand {
    return {
      name: row.name, args: JSON.parse(row.args) as Record<string, string>, ackedAt: row.acked_at ?? row.updated_at,
      ...(row.ack_seq !== null ? { ackSeq: row.ack_seq } : {}), ...(row.ack_device_ts !== null ? { ackDeviceTs: row.ack_device_ts } : {}),
    };
  }
}
