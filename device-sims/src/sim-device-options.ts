import { CommandStatus, type Command, type KnownKind } from '@yulan/protos';
import type { ConnectGate } from './gate.js';
import type { DeviceModel } from './models/index.js';
import type { SimEvent } from './models/types.js';
import type { CommandFailures, PlanTiming } from './command-plan.js';

// The options, statistics and firmware hook of a SimDevice (sim-device.ts), apart from the
// transport itself.

/** What a firmware handler (src/firmware/) may do to the device while updating it. */
export interface FirmwareUpdateContext {
  result(status: CommandStatus, message: string, output?: Record<string, string>): void;
  publishEvent(ev: SimEvent): Promise<boolean>;
  /** Offline for `downMs`, then a birth (with the current firmware version). */
  reboot(downMs: number): void;
  setFirmwareVersion(version: string): void;
  readonly firmwareVersion: string;
}
export type FirmwareUpdateHook = (cmd: Command, ctx: FirmwareUpdateContext) => void;

/** Until a firmware module is plugged in, the simulator says so rather than pretending. */
export const rejectFirmwareUpdate: FirmwareUpdateHook = (_cmd, ctx) =>
  ctx.result(CommandStatus.REJECTED, 'firmware updates not supported by this simulator');

export interface SimDeviceOptions {
  /** Called after a command changed the model's state (the fleet then reports at once). */
  onStateChange?: () => void;
  mqttUrl: string;
  /** PEM CA for an mqtts:// broker */
  ca?: string;
  deviceId: string;
  site: string;
  kind: KnownKind;
  secret: string;
  /** Connect by client certificate (mqtts://) instead of the secret (device-certs.ts). */
  clientCert?: { cert: string; key: string };
  firmwareVersion?: string;
  /** QoS of telemetry (events, presence and command results are always QoS 1). */
  qos?: 0 | 1;
  /** First envelope seq (default 1). */
  initialSeq?: number;
  connectTimeoutMs?: number;
  keepaliveS?: number;
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** Shared handshake limiter (the fleet's); a private one is used otherwise. */
  gate?: ConnectGate;
  /** Device clock for presence and command results (the fleet passes simulated time). */
  clock?: () => number;
  /** How long a reboot keeps the device offline, ms (default 1500). */
  rebootDelayMs?: number;
  /** The behaviour model commands and twin settings act on; without one only `reboot` works. */
  model?: DeviceModel;
  /** Injected command failures (deterministic per commandSeed and command id). */
  commandFailures?: CommandFailures;
  commandSeed?: number;
  commandTiming?: Partial<Omit<PlanTiming, 'rebootDownMs'>>;
  /** Handler of `firmware.update` (default: REJECTED, not supported). */
  onFirmwareUpdate?: FirmwareUpdateHook;
  /** Events kept while offline and sent after reconnecting (events must not be lost). */
  offlineEventLimit?: number;
}

export interface SimDeviceStats {
  published: number;
  events: number;
  commands: number;
  errors: number;
  connects: number;
  droppedEvents: number;
  /** Undecodable cmd / twin-desired payloads (dropped, logged). */
  malformed: number;
  twinUpdates: number;
}
