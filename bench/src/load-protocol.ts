import type { ReconnectJob } from './reconnect-policy.js';

/** Messages between a benchmark and its load-generator processes (over the fork IPC channel). */
export interface LoadDevice {
  id: string;
  site: string;
  kind: number;
  secret: string;
  /** Telemetry messages/s for this device; overrides the job's ratePerDevice (mixed fleets). */
  rate?: number;
}

/** A periodic event for every device of one kind (e.g. locker door openings), on top of
 * its telemetry; published QoS 1 in the device's own seq space, like injected events. */
export interface PeriodicEvent {
  kind: number;
  /** Events/s per device (1/300 = one every five minutes on average). */
  ratePerDevice: number;
  event: InjectEvent;
}

export interface LoadJob {
  mqttUrl: string;
  /** PEM CA for an mqtts:// mqttUrl (the TLS handshake is part of each connect) */
  ca?: string;
  devices: LoadDevice[];
  ratePerDevice: number;
  durationMs: number;
  qos: 0 | 1;
  /** Opening connections this many at a time. */
  connectConcurrency: number;
  /** MQTT keep-alive the devices announce (s); 0 = none. Pings are sent when > 0. */
  keepaliveS?: number;
  /** Publishing tick (ms); slow fleets (one message a minute) need not wake every 10 ms. */
  tickMs?: number;
  /** Source addresses to bind client sockets to, round robin: one address reaches only
   * ~28,000 connections to one port (the ephemeral port range). */
  localAddresses?: string[];
  periodicEvents?: PeriodicEvent[];
  /** CONNACK wait per attempt (ms); 30 s when unset. */
  connectTimeoutMs?: number;
  /** Devices dropped by the broker come back per this policy (reconnect-storm); unset: a
   * drop ends the device's run. */
  reconnect?: ReconnectJob;
}

/** What bringing dropped devices back took, per generator process. */
export interface StormStats {
  drops: number;
  reconnected: number;
  /** Per reconnect: ms from the drop to CONNACK 0. */
  reconnectMs: number[];
  attempts: number;
  /** Failed attempts by reason (`connack-3`, `timeout`, `closed`, `error`). */
  failures: Record<string, number>;
  /** Drops of a live connection by how the socket ended: `closed` (the broker closed it),
   * or the socket error's code (`ECONNRESET` when the broker process died). */
  dropCauses: Record<string, number>;
}

/** One device event to publish (QoS 1, on the device's event topic) while the load runs. */
export interface InjectEvent {
  type: string;
  /** protobuf Severity value */
  severity: number;
  message: string;
  attributes: Record<string, string>;
}

export type ToWorker =
  | { type: 'start'; job: LoadJob }
  | { type: 'publish' }
  | { type: 'inject'; ref: number; deviceId: string; events: InjectEvent[] }
  | { type: 'stop' };

export interface DeviceResult {
  id: string;
  /** Sequence numbers 1..published were handed to the client. */
  published: number;
  /** Of those, how many the broker acknowledged (QoS 1) — those must never be lost. */
  acked: number;
  /** Of the published seqs, how many were events (periodic or injected), not telemetry. */
  events?: number;
  /** Its seq when the broker first dropped it (reconnecting jobs). */
  droppedAtSeq?: number;
}

export type FromWorker =
  | { type: 'connected'; devices: number; connectMs: number; failed: number }
  | { type: 'done'; results: DeviceResult[]; cpuUserMs: number; cpuSystemMs: number; wallMs: number; storm?: StormStats }
  | { type: 'injected'; ref: number; deviceId: string; seqs: number[]; atMs: number[] }
  | { type: 'error'; message: string };
