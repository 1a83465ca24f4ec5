/** Messages between a benchmark and its load-generator processes (over the fork IPC channel). */
export interface LoadDevice {
  id: string;
  site: string;
  kind: number;
  secret: string;
}

export interface LoadJob {
  mqttUrl: string;
  devices: LoadDevice[];
  ratePerDevice: number;
  durationMs: number;
  qos: 0 | 1;
  /** Opening connections this many at a time. */
  connectConcurrency: number;
}

export type ToWorker = { type: 'start'; job: LoadJob } | { type: 'publish' } | { type: 'stop' };

export interface DeviceResult {
  id: string;
  /** Sequence numbers 1..published were handed to the client. */
  published: number;
  /** Of those, how many the broker acknowledged (QoS 1) — those must never be lost. */
  acked: number;
}

export type FromWorker =
  | { type: 'connected'; devices: number; connectMs: number; failed: number }
  | { type: 'done'; results: DeviceResult[]; cpuUserMs: number; cpuSystemMs: number; wallMs: number }
  | { type: 'error'; message: string };
