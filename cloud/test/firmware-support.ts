import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import mqtt, { type MqttClient } from 'mqtt';
import { Channel, Command, CommandResult, CommandStatus, Event, Presence, Telemetry, deviceTopic, kindFromSlug, type KnownKind } from '@yulan/protos';
import { buildApp } from '../src/app.js';
import { digestToken } from '../src/auth-tokens.js';
import { createHttpEdgeClient } from '../src/edge-client.js';
import { openFirmware, parseTrustedKeys, type FirmwareModule, type FirmwareMqtt } from '../src/firmware/index.js';
import type { DeviceRepository } from '../src/repositories/device-repository.js';
import type { DbTarget } from '../src/db/target.js';
import { handleFirmwareUpdate } from '../../device-sims/src/firmware/index.js';
import { silentLogger } from './helpers.js';

export const ADMIN = 'admin-token-0123456789-abcdefghijklmnop';
export const auth = { authorization: `Bearer ${ADMIN}` };

export interface SigningKey {
  id: string;
  privateKey: KeyObject;
  publicKeyPem: string;
}

export function makeKey(id: string): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { id, privateKey, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

/** base64 Ed25519 over the raw SHA-256 digest: what an operator's signing tool produces. */
export function signImage(image: Buffer, key: SigningKey): string {
  return sign(null, createHash('sha256').update(image).digest(), key.privateKey).toString('base64');
}

export function image(bytes: number, seed = 1): Buffer {
  const b = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) b[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return b;
}

export const noMqtt: FirmwareMqtt = { publish: async () => undefined, subscribe: async () => undefined, onMessage: () => () => undefined };

export interface FirmwareApp {
  app: FastifyInstance;
  firmware: FirmwareModule;
  url: string;
  close(): Promise<void>;
}

/** The real app (HTTP on an ephemeral port) with a firmware module over `dataDir`. */
export async function startFirmwareApp(o: {
  dataDir: string; devices: DeviceRepository; keys: SigningKey[] | null; mqtt?: FirmwareMqtt; now?: () => number; tickMs?: number; db?: DbTarget;
}): Promise<FirmwareApp> {
  let url = '';
  const firmware = await openFirmware({
    dataDir: o.dataDir, ...(o.db ? { db: o.db } : {}),
    ...(o.keys ? { keys: parseTrustedKeys(o.keys.map((k) => ({ id: k.id, publicKeyPem: k.publicKeyPem }))) } : {}),
    devices: o.devices, mqtt: o.mqtt ?? noMqtt, baseUrl: () => url, logger: silentLogger,
    ...(o.now ? { now: o.now } : {}), tickMs: o.tickMs ?? 50,
  });
  const app = await buildApp({
    logger: silentLogger, devices: o.devices,
    edge: createHttpEdgeClient({ baseUrl: 'http://127.0.0.1:9', token: 'x' }),
    control: { connected: () => true, publishRevoke: async () => undefined },
    adminTokenDigest: digestToken(ADMIN), brokerToken: 'broker-token', dashboardDir: null,
    rateLimit: { max: 100_000 }, firmware,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  await firmware.start();
  return { app, firmware, url, close: async () => { await app.close(); await firmware.close(); } };
}

export async function upload(app: FastifyInstance, img: Buffer, q: Record<string, string>) {
  return app.inject({
    method: 'POST', url: `/api/v1/firmware?${new URLSearchParams(q).toString()}`,
    headers: { ...auth, 'content-type': 'application/octet-stream' }, payload: img,
  });
}

export interface SimBehaviour {
  /** the new image fails to boot (rolls back) */
  bootFails?: boolean;
  /** after installing, publish an error event (health gate) */
  faultAfterInstall?: boolean;
  /** after installing, go offline for good (a bricked device) after this many ms */
  offlineAfterInstallMs?: number;
  /** after installing, stay connected but send no telemetry (hung firmware) */
  silentAfterInstall?: boolean;
  /** the update crashes: a FAILED command result and no firmware.failed event */
  crashWithoutEvent?: boolean;
  /** reports "installing" and then nothing more */
  hangInstalling?: boolean;
  /** counts firmware.update deliveries and does nothing with them */
  ignoreUpdates?: boolean;
}

/** A tiny MQTT device: presence with its version, telemetry every `telemetryMs`, firmware.update
 * through the device-side handler (with command results), events on its own topic. Stands in
 * for the simulator's command dispatcher. */
export class TinyDevice {
  version: string;
  client: MqttClient | undefined;
  readonly handled = new Set<string>();
  /** firmware.update deliveries, duplicates included (re-offers) */
  deliveries = 0;
  private readonly kind: KnownKind;
  private timer: NodeJS.Timeout | undefined;
  private silent = false;
  private url = '';
  private password = '';
  constructor(readonly id: string, readonly site: string, kindSlug: string, version: string, private readonly keys: SigningKey[], public behaviour: SimBehaviour = {}, private readonly telemetryMs = 100) {
    this.version = version;
    this.kind = kindFromSlug(kindSlug) as KnownKind;
  }
  topic(c: (typeof Channel)[keyof typeof Channel]): string {
    return deviceTopic({ site: this.site, kind: this.kind, deviceId: this.id }, c);
  }
  get online(): boolean {
    return this.client?.connected === true;
  }
  async start(brokerUrl: string, password: string): Promise<void> {
    this.url = brokerUrl;
    this.password = password;
    this.silent = false;
    const will = { topic: this.topic(Channel.Presence), payload: Buffer.from(this.presenceMsg(false, 'will')), qos: 1 as const, retain: true };
    const client = await mqtt.connectAsync(brokerUrl, { clientId: this.id, username: this.id, password, reconnectPeriod: 0, will });
    this.client = client;
    await client.subscribeAsync(this.topic(Channel.Command), { qos: 1 });
    client.on('message', (_t, payload) => void this.onCommand(Command.decode(payload)));
    await this.presence();
    this.timer = setInterval(() => void this.telemetry(), this.telemetryMs);
  }
  connectTo(url: string, password: string): void {
    this.url = url;
    this.password = password;
  }
  /** (back) online, e.g. after `stop()` */
  restart(): Promise<void> {
    return this.start(this.url, this.password);
  }
  /** offline: the connection drops (the broker publishes the will) */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    const c = this.client;
    this.client = undefined;
    c?.stream.destroy();
    await new Promise((r) => setTimeout(r, 10));
  }
  private presenceMsg(online: boolean, reason: string): Uint8Array {
    return Presence.encode({ deviceId: this.id, kind: this.kind, online, tsMs: Date.now(), firmwareVersion: this.version, reason });
  }
  private presence(): Promise<unknown> {
    return this.client?.publishAsync(this.topic(Channel.Presence), Buffer.from(this.presenceMsg(true, 'birth')), { qos: 1, retain: true }) ?? Promise.resolve();
  }
  private header() {
    return { deviceId: this.id, kind: this.kind, seq: Date.now(), tsMs: Date.now(), firmwareVersion: this.version };
  }
  private telemetry(): void {
    if (this.silent || !this.online) return;
    this.client?.publish(this.topic(Channel.Telemetry), Buffer.from(Telemetry.encode({ header: this.header(), evCharger: { connectorId: 1, powerW: 0, energyKwh: 0, currentA: 0, voltageV: 230, faultCode: '', meterKwh: 1, transactionId: '', status: 1 } } as Telemetry)), { qos: 0 });
  }
  event(type: string, attributes: Record<string, string> = {}): Promise<unknown> {
    return this.client?.publishAsync(this.topic(Channel.Event), Buffer.from(Event.encode({
      header: this.header(), type, severity: 1, message: type, attributes,
    })), { qos: 1 }) ?? Promise.resolve();
  }
  private result(commandId: string, status: CommandStatus, message: string): Promise<unknown> {
    return this.client?.publishAsync(this.topic(Channel.CommandResult), Buffer.from(CommandResult.encode({
      header: this.header(), commandId, status, message, output: {},
    })), { qos: 1 }) ?? Promise.resolve();
  }
  private async onCommand(cmd: Command): Promise<void> {
    if (cmd.name !== 'firmware.update') return;
    this.deliveries++;
    if (this.behaviour.ignoreUpdates) return;
    if (this.handled.has(cmd.commandId)) return;
    this.handled.add(cmd.commandId);
    await this.result(cmd.commandId, CommandStatus.ACCEPTED, 'downloading');
    if (this.behaviour.crashWithoutEvent) return void this.result(cmd.commandId, CommandStatus.FAILED, 'firmware update crashed: out of flash');
    if (this.behaviour.hangInstalling) return void this.event('firmware.installing', { version: cmd.args.version ?? '' });
    const out = await handleFirmwareUpdate(cmd, {
      publishEvent: (e) => this.event(e.type, e.attributes),
      fetch: (u, init) => fetch(u, init),
      currentVersion: () => this.version,
      setVersion: async (v) => { this.version = v; await this.presence(); },
      trustedKeys: Object.fromEntries(this.keys.map((k) => [k.id, k.publicKeyPem])),
      bootFailureRate: this.behaviour.bootFails ? 1 : 0,
      chunkBytes: 4096,
    });
    await this.result(cmd.commandId, out.ok ? CommandStatus.SUCCEEDED : CommandStatus.FAILED, out.ok ? `running ${out.version}` : out.reason ?? 'failed');
    if (!out.ok) return;
    if (this.behaviour.faultAfterInstall) await this.event('charger.fault', { code: 'GroundFailure' });
    if (this.behaviour.silentAfterInstall) this.silent = true;
    const off = this.behaviour.offlineAfterInstallMs;
    if (off !== undefined) setTimeout(() => void this.stop(), off);
  }
  async close(): Promise<void> {
    clearInterval(this.timer);
    const c = this.client;
    this.client = undefined;
    if (c) await c.endAsync();
  }
}
