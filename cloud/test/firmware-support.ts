import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import mqtt, { type MqttClient } from 'mqtt';
import { Channel, Command, Event, Presence, deviceTopic, kindFromSlug, type KnownKind } from '@yulan/protos';
import { buildApp } from '../src/app.js';
import { digestToken } from '../src/auth-tokens.js';
import { createHttpEdgeClient } from '../src/edge-client.js';
import { openFirmware, parseTrustedKeys, type FirmwareModule, type FirmwareMqtt } from '../src/firmware/index.js';
import type { DeviceRepository } from '../src/repositories/device-repository.js';
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
  dataDir: string; devices: DeviceRepository; keys: SigningKey[] | null; mqtt?: FirmwareMqtt; now?: () => number; tickMs?: number;
}): Promise<FirmwareApp> {
  let url = '';
  const firmware = openFirmware({
    dataDir: o.dataDir,
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
}

/** A tiny MQTT device: presence with its version, firmware.update through the device-side
 * handler, events on its own topic. Stands in for the simulator's command dispatcher. */
export class TinyDevice {
  version: string;
  client!: MqttClient;
  readonly handled = new Set<string>();
  private readonly kind: KnownKind;
  constructor(readonly id: string, readonly site: string, kindSlug: string, version: string, private readonly keys: SigningKey[], public behaviour: SimBehaviour = {}) {
    this.version = version;
    this.kind = kindFromSlug(kindSlug) as KnownKind;
  }
  topic(c: (typeof Channel)[keyof typeof Channel]): string {
    return deviceTopic({ site: this.site, kind: this.kind, deviceId: this.id }, c);
  }
  async start(brokerUrl: string, password: string): Promise<void> {
    this.client = await mqtt.connectAsync(brokerUrl, { clientId: this.id, username: this.id, password, reconnectPeriod: 0 });
    await this.client.subscribeAsync(this.topic(Channel.Command), { qos: 1 });
    this.client.on('message', (_t, payload) => void this.onCommand(Command.decode(payload)));
    await this.presence();
  }
  private presence(): Promise<unknown> {
    return this.client.publishAsync(this.topic(Channel.Presence), Buffer.from(Presence.encode({
      deviceId: this.id, kind: this.kind, online: true, tsMs: Date.now(), firmwareVersion: this.version, reason: 'birth',
    })), { qos: 1, retain: true });
  }
  event(type: string, attributes: Record<string, string> = {}): Promise<unknown> {
    return this.client.publishAsync(this.topic(Channel.Event), Buffer.from(Event.encode({
      header: { deviceId: this.id, kind: this.kind, seq: Date.now(), tsMs: Date.now(), firmwareVersion: this.version },
      type, severity: 1, message: type, attributes,
    })), { qos: 1 });
  }
  private async onCommand(cmd: Command): Promise<void> {
    if (cmd.name !== 'firmware.update' || this.handled.has(cmd.commandId)) return;
    this.handled.add(cmd.commandId);
    const out = await handleFirmwareUpdate(cmd, {
      publishEvent: (e) => this.event(e.type, e.attributes),
      fetch: (u, init) => fetch(u, init),
      currentVersion: () => this.version,
      setVersion: async (v) => { this.version = v; await this.presence(); },
      trustedKeys: Object.fromEntries(this.keys.map((k) => [k.id, k.publicKeyPem])),
      bootFailureRate: this.behaviour.bootFails ? 1 : 0,
      chunkBytes: 4096,
    });
    if (out.ok && this.behaviour.faultAfterInstall) await this.event('charger.fault', { code: 'GroundFailure' });
  }
  close(): Promise<void> {
    return this.client.endAsync();
  }
}
