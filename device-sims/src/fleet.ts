import type { Logger } from 'pino';
import { kindFromSlug, type KindSlug } from '@yulan/protos';
import { SimError, SimErrorCode } from './errors.js';
import { createGate } from './gate.js';
import type { FallScenario, ScenarioOptions } from './models/fall-scenarios.js';
import { createDeviceModel, type DeviceModel, type ModelOverrides } from './models/index.js';
import { provisionDevices, type CloudOptions, type DeviceSpec } from './provisioning.js';
import { provisionByClaim, type ClaimOptions } from './claim-provision.js';
import { deriveSeed } from './rng.js';
import { createScheduler } from './scheduler.js';
import { SimDevice, type FirmwareUpdateHook } from './sim-device.js';
import { firmwareUpdateHook, loadTrustedKeys } from './firmware-hook.js';
import { FirmwareStore } from './firmware-store.js';
import type { CommandFailures } from './command-plan.js';
import { ensureClientCerts, type ClientCert } from './device-certs.js';
import { scenarioTarget, validateFleet } from './fleet-specs.js';

export { fleetDeviceSpecs } from './fleet-specs.js';

export interface FleetDeviceSpec {
  id: string;
  site: string;
  kind: KindSlug;
  secret?: string;
  /** Replaces the fleet's `commandFailures` for this device. */
  commandFailures?: CommandFailures;
}

export interface FleetOptions {
  kinds: KindSlug[];
  /** Devices per kind, spread round-robin over `sites`. */
  countPerKind: number;
  sites: string[];
  /** Telemetry messages per second per device; may be fractional (0.2 = every 5 s). */
  ratePerDevice: number;
  qos: 0 | 1;
  mqttUrl: string;
  /** PEM CA the broker's certificate must chain to, for an mqtts:// mqttUrl */
  ca?: string;
  seed: number;
  cloud?: CloudOptions;
  credentialsFile?: string;
  /** Explicit device list; replaces kinds/countPerKind/sites. */
  devices?: FleetDeviceSpec[];
  /** Concurrent MQTT handshakes (default 50). */
  connectConcurrency?: number;
  /** Simulated ms per real ms (default 1). Above 1 the envelope timestamps run ahead of the wall clock. */
  timeScale?: number;
  firmwareVersion?: string;
  /** Simulated start time, ms epoch (default: now). */
  startMs?: number;
  modelOverrides?: ModelOverrides;
  /** Scenarios forced on fall sensors after start (docs/care.md §1; `yulan sim --scenario`). */
  scenarios?: FleetScenario[];
  /** Injected command failures for every device (`yulan sim --command-failures`). */
  commandFailures?: CommandFailures;
  /** Per-device failures by id (win over `commandFailures` and `devices[].commandFailures`). */
  deviceCommandFailures?: Record<string, CommandFailures>;
  /** How long a rebooting device stays offline, real ms (default 1500). */
  rebootDownMs?: number;
  /** Handler of `firmware.update` (default: REJECTED "not supported by this simulator"). */
  onFirmwareUpdate?: FirmwareUpdateHook;
  /** Trusted firmware keys (`[{id, publicKeyPem}]`, as YULAN_FIRMWARE_KEYS): with it and no
   * `onFirmwareUpdate`, the devices download, verify and install `firmware.update`. */
  firmwareKeysFile?: string;
  /** The simulator's data dir: installed firmware versions are kept in <dataDir>/firmware.json
   * across restarts (`yulan sim --data-dir`). */
  dataDir?: string;
  /** Start from a claim (`yulan sim --claim`): devices without a stored secret exchange it
   * for their identity (id = their serial = the fleet's id; site and kind from the claim). */
  claim?: ClaimOptions;
  /** The first N devices of the fleet (or all) connect by client certificate over mqtts://
   * instead of their secret: keys made here, certificates issued through `cloud` and kept in
   * <dataDir>/certs (device-certs.ts). Needs `cloud`, `dataDir` and an mqtts:// `mqttUrl`. */
  byCertificate?: number | 'all';
}

export interface FleetScenario {
  scenario: FallScenario;
  /** A fall sensor of this fleet; default the first fall sensor. */
  deviceId?: string;
  /** Simulated ms after the fleet's start (default 0: on the first step). */
  afterMs?: number;
  durationMs?: number;
}

export interface SimDeviceInfo {
  id: string;
  site: string;
  kind: KindSlug;
  firmwareVersion: string;
}

export interface FleetStats {
  connected: number;
  published: number;
  events: number;
  errors: number;
  commands: number;
  /** Readings not sent because the device was offline at its tick. */
  skipped: number;
  droppedEvents: number;
  /** Undecodable cmd / twin-desired payloads. */
  malformed: number;
  twinUpdates: number;
}

export interface FleetHandle {
  devices: readonly SimDeviceInfo[];
  stats(): FleetStats;
  /** Resolves when every device's first connection attempt has settled. */
  ready(): Promise<{ connected: number; failed: number }>;
  /** "Device X: scenario Y now" on a running fleet. Throws SimError(E_SIM_OPTIONS) for an
   * unknown scenario, an unknown device or a device that is not a fall sensor. */
  scenario(deviceId: string, name: FallScenario, opts?: ScenarioOptions): void;
  close(): Promise<void>;
}

interface Member {
  info: SimDeviceInfo;
  device: SimDevice;
  model: DeviceModel;
}

/**
 * Provisions (optionally) and runs a fleet of simulated devices. One scheduler tick drives
 * every device; connections ramp through a shared gate; each device reconnects on its own.
 */
export async function runFleet(options: FleetOptions, logger: Logger): Promise<FleetHandle> {
  // copies: a claim gives the devices its site and kind (provisionByClaim)
  const specs = validateFleet(options).map((d) => ({ ...d }));
  const fw = options.firmwareVersion ?? '0.1.0-sim';
  const timeScale = options.timeScale ?? 1;
  const provisionOpts = { firmwareVersion: fw, ...(options.cloud && { cloud: options.cloud }), ...(options.credentialsFile && { credentialsFile: options.credentialsFile }) };
  const secrets = options.claim
    ? await provisionByClaim(specs, { mqttUrl: options.mqttUrl, claim: options.claim, ...(options.ca !== undefined ? { ca: options.ca } : {}),
      ...(options.credentialsFile ? { credentialsFile: options.credentialsFile } : {}) }, logger)
    : await provisionDevices(specs as DeviceSpec[], provisionOpts, logger);
  const certIds = options.byCertificate === undefined ? [] : specs.slice(0, options.byCertificate === 'all' ? specs.length : options.byCertificate).map((d) => d.id);
  const certs = certIds.length > 0 ? await ensureClientCerts(certIds, { ...(options.cloud ? { cloud: options.cloud } : {}), dataDir: options.dataDir!, logger }) : new Map<string, ClientCert>();

  const startMs = options.startMs ?? Date.now();
  const wallStart = Date.now();
  // Simulated clock shared by the fleet; the models advance in lock-step with it.
  const simNow = (): number => startMs + (Date.now() - wallStart) * timeScale;
  // seq base = wall clock ms at start: a restarted simulator keeps seq increasing (so the
  // edge's duplicate filter does not swallow it) without persisting a counter per device.
  const seqBase = wallStart;
  const gate = createGate(options.connectConcurrency ?? 50);
  const periodMs = 1000 / options.ratePerDevice;
  let skipped = 0;

  const firmwareHook = options.onFirmwareUpdate
    ?? (options.firmwareKeysFile ? firmwareUpdateHook({ trustedKeys: loadTrustedKeys(options.firmwareKeysFile), ...(options.rebootDownMs !== undefined && { rebootDownMs: options.rebootDownMs }) }) : undefined);
  const store = options.dataDir !== undefined ? FirmwareStore.open(options.dataDir) : undefined;
  const members: Member[] = specs.map((d) => {
    // What the device installed before a restart, else what the fleet starts with.
    const version = store?.get(d.id) ?? fw;
    const hook = firmwareHook && store ? store.persisting(d.id, firmwareHook) : firmwareHook;
    const kind = kindFromSlug(d.kind)!;
    const model = createDeviceModel(kind, deriveSeed(options.seed, d.id), startMs, options.modelOverrides);
    const failures = options.deviceCommandFailures?.[d.id] ?? d.commandFailures ?? options.commandFailures;
    const device = new SimDevice({
      mqttUrl: options.mqttUrl, deviceId: d.id, site: d.site, kind, secret: secrets.get(d.id)!, firmwareVersion: version,
      ...(options.ca !== undefined ? { ca: options.ca } : {}),
      ...(certs.has(d.id) ? { clientCert: certs.get(d.id)! } : {}),
      qos: options.qos, initialSeq: seqBase, gate, clock: simNow, model,
      // Failure draws get their own stream so injecting failures never shifts a model's behaviour.
      commandSeed: deriveSeed(options.seed, `${d.id}/commands`),
      ...(failures && { commandFailures: failures }),
      ...(options.rebootDownMs !== undefined && { rebootDelayMs: options.rebootDownMs }),
      ...(hook && { onFirmwareUpdate: hook }),
      // Report-on-change: a reading of the current state (no simulated time passes).
      onStateChange: () => {
        const now = model.step(0);
        if (now.silent) return;
        for (const ev of now.events) void device.publishEvent(ev, now.tsMs);
        if (device.connected) void device.publishTelemetry(now.reading, now.tsMs);
      },
    }, logger);
    return { info: { id: d.id, site: d.site, kind: d.kind, firmwareVersion: version }, device, model };
  });

  const byId = new Map(members.map((m) => [m.info.id, m]));
  const scheduler = createScheduler();
  const t0 = performance.now();
  members.forEach((m, i) => {
    let intervalS: number | undefined;
    const task = {
      periodMs,
      // Stagger first publishes evenly over one period so load is flat, not pulsed.
      dueMs: t0 + (periodMs * i) / members.length,
      run: () => {
        const elapsedMs = task.periodMs * timeScale; // simulated time since this device's last step
        // A twin or env.set_interval sets the reading interval in simulated seconds.
        if (m.model.reportIntervalS !== intervalS) {
          intervalS = m.model.reportIntervalS;
          const next = intervalS === undefined ? periodMs : (intervalS * 1000) / timeScale;
          task.dueMs += next - task.periodMs;
          task.periodMs = next;
        }
        const step = m.model.step(elapsedMs);
        if (step.silent) return; // hung firmware: the session stays up, nothing is sent
        for (const ev of step.events) void m.device.publishEvent(ev, step.tsMs);
        if (m.device.connected) void m.device.publishTelemetry(step.reading, step.tsMs);
        else skipped += 1;
      },
    };
    scheduler.add(task);
  });
  // Scheduled scenarios are applied on the model's own clock, so they are as deterministic
  // as forceFallAt (the fleet's first step lands exactly at startMs + stepMs).
  for (const sc of options.scenarios ?? []) {
    const id = scenarioTarget(specs, sc.deviceId, sc.scenario);
    byId.get(id)!.model.scenario(sc.scenario, { ...(sc.durationMs !== undefined && { durationMs: sc.durationMs }), atMs: startMs + (sc.afterMs ?? 0) });
  }
  scheduler.start();

  let failed = 0;
  const firstAttempts = Promise.all(members.map((m) => m.device.start().catch((err: unknown) => {
    failed += 1;
    if ((err as SimError).code !== SimErrorCode.Closed) logger.warn({ err, deviceId: m.info.id }, 'device failed to connect; retrying in background');
  })));
  const ready = firstAttempts.then(() => {
    const connected = members.filter((m) => m.device.connected).length;
    logger.info({ devices: members.length, connected, failed }, 'fleet connection ramp finished');
    return { connected, failed };
  });
  logger.info({ devices: members.length, ratePerDevice: options.ratePerDevice, qos: options.qos, timeScale }, 'fleet started');

  let closing: Promise<void> | undefined;
  return {
    devices: members.map((m) => m.info),
    stats() {
      const s: FleetStats = {
        connected: 0, published: 0, events: 0, errors: 0, commands: 0, skipped, droppedEvents: 0, malformed: 0, twinUpdates: 0,
      };
      for (const { device } of members) {
        if (device.connected) s.connected += 1;
        s.published += device.stats.published;
        s.events += device.stats.events;
        s.errors += device.stats.errors;
        s.commands += device.stats.commands;
        s.droppedEvents += device.stats.droppedEvents;
        s.malformed += device.stats.malformed;
        s.twinUpdates += device.stats.twinUpdates;
      }
      return s;
    },
    ready: () => ready,
    scenario(deviceId, name, opts = {}) {
      const id = scenarioTarget(specs, deviceId, name);
      byId.get(id)!.model.scenario(name, opts);
      logger.info({ deviceId: id, scenario: name }, 'scenario forced');
    },
    close() {
      closing ??= (async () => {
        scheduler.stop();
        await Promise.all(members.map((m) => m.device.close()));
        await firstAttempts;
        await store?.flush();
        logger.info('fleet closed');
      })();
      return closing;
    },
  };
}
