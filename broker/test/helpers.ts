import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import mqttPacket from 'mqtt-packet';
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { DeviceKind, hashSecret, type KnownKind } from '@yulan/protos';
import { loadBrokerConfig, type BrokerConfig } from '../src/config.js';
import type { DeviceAuthResult, DeviceAuthenticator } from '../src/device-auth.js';
import type { DeviceCertAuthenticator } from '../src/device-cert.js';
import { BrokerError, BrokerErrorCode } from '../src/errors.js';
import { waitFor as poll } from '@yulan/testkit';

export const logger = pino({ level: 'silent' });
export const EDGE_PASSWORD = 'edge-password-for-tests-0123456789';
export const CLOUD_PASSWORD = 'cloud-password-for-tests-0123456789';
export const BROKER_TOKEN = 'broker-token-for-tests-0123456789';

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `yulan-broker-${prefix}-`));
}

/** Writes an accounts file (edge + cloud) and returns a config on ephemeral ports. */
export async function testConfig(dir: string, env: Record<string, string> = {}): Promise<BrokerConfig> {
  const file = path.join(dir, 'accounts.json');
  if (!fs.existsSync(file)) {
    const accounts = [
      { username: 'edge', role: 'edge', hash: await hashSecret(EDGE_PASSWORD) },
      { username: 'cloud', role: 'cloud', hash: await hashSecret(CLOUD_PASSWORD) },
    ];
    fs.writeFileSync(file, JSON.stringify(accounts));
  }
  return loadBrokerConfig({
    YULAN_MQTT_HOST: '127.0.0.1',
    YULAN_MQTT_PORT: '0',
    YULAN_WS_PORT: '0',
    YULAN_CLOUD_URL: 'http://127.0.0.1:9',
    YULAN_BROKER_TOKEN: BROKER_TOKEN,
    YULAN_BROKER_ACCOUNTS_FILE: file,
    YULAN_DATA_DIR: dir,
    ...env,
  });
}

export interface FakeDevice {
  secret: string;
  site: string;
  kind: KnownKind;
  disabled?: boolean;
}

/** In-memory stand-in for the cloud registry, behind the DeviceAuthenticator interface. */
export class FakeDeviceAuth implements DeviceAuthenticator {
  readonly devices = new Map<string, FakeDevice>();
  unavailable = false;
  forgotten: string[] = [];
  /** Milliseconds each successive authenticate() waits before answering (then 0). */
  delays: number[] = [];

  add(id: string, d: Partial<FakeDevice> = {}): FakeDevice {
    const dev = { secret: `secret-${id}`, site: 'site-1', kind: DeviceKind.ENV_MONITOR as KnownKind, ...d };
    this.devices.set(id, dev);
    return dev;
  }
  async authenticate(deviceId: string, secret: string): Promise<DeviceAuthResult> {
    const delay = this.delays.shift() ?? 0;
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    if (this.unavailable) {
      return { outcome: 'unavailable', error: new BrokerError(BrokerErrorCode.DeviceAuth, 'cloud down') };
    }
    const d = this.devices.get(deviceId);
    if (!d || d.secret !== secret) return { outcome: 'denied', reason: 'bad-credentials' };
    if (d.disabled) return { outcome: 'denied', reason: 'disabled' };
    return { outcome: 'ok', device: { id: deviceId, site: d.site, kind: d.kind }, source: 'cloud' };
  }
  forget(deviceId: string): void {
    this.forgotten.push(deviceId);
  }
}

/** The registry as the cloud's device-cert-auth answers it: which certificate each device logs in with. */
export class FakeCertAuth implements DeviceCertAuthenticator {
  readonly registered = new Map<string, { fingerprint: string; disabled?: boolean; kind?: KnownKind }>();
  readonly asked: { deviceId: string; fingerprint: string; serial: string }[] = [];
  /** While set, every answer waits for it (a slow cloud: what happens meanwhile). */
  gate: Promise<void> | undefined;
  constructor(private readonly site = 'site-1', private readonly kind: KnownKind = DeviceKind.ENV_MONITOR) {}
  async authenticate(deviceId: string, cert: { fingerprint: string; serial: string }): Promise<DeviceAuthResult> {
    this.asked.push({ deviceId, ...cert });
    if (this.gate) await this.gate;
    const d = this.registered.get(deviceId);
    if (!d || d.fingerprint !== cert.fingerprint) return { outcome: 'denied', reason: 'bad-credentials' };
    if (d.disabled) return { outcome: 'denied', reason: 'disabled' };
    return { outcome: 'ok', device: { id: deviceId, site: this.site, kind: d.kind ?? this.kind }, source: 'cloud' };
  }
}

export async function mqttClient(url: string, opts: IClientOptions): Promise<MqttClient> {
  return connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000, ...opts });
}

/** Polls `cond` until it holds or the deadline passes (no fixed sleeps in assertions). */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  await poll(cond, what, { timeoutMs, intervalMs: 10 });
}

export interface RawConnect {
  clientId: string;
  username?: string;
  password?: string;
  clean?: boolean;
  will?: { topic: string; payload: Buffer; qos?: 0 | 1; retain?: boolean };
}

/** A raw TCP MQTT client: sends CONNECT, resolves with the socket and CONNACK code. */
export async function rawConnect(port: number, c: RawConnect): Promise<{ socket: net.Socket; returnCode: number; parser: ReturnType<typeof mqttPacket.parser> }> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  const connack = new Promise<number>((resolve, reject) => {
    parser.once('packet', (p: mqttPacket.Packet) =>
      p.cmd === 'connack' ? resolve(p.returnCode ?? -1) : reject(new Error(`unexpected ${p.cmd}`)),
    );
    socket.once('close', () => reject(new Error('closed before CONNACK')));
  });
  connack.catch(() => undefined); // awaited below; avoids an unhandled rejection if generate throws
  socket.on('data', (d: Buffer) => parser.parse(d));
  socket.on('error', () => undefined);
  // mqtt-packet refuses to generate an empty client id with clean session off, so the
  // packet is generated with clean on and the flag bit cleared by hand.
  const clearClean = c.clean === false;
  const bytes = mqttPacket.generate({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clientId: c.clientId,
      clean: clearClean ? true : (c.clean ?? true),
      keepalive: 60,
      ...(c.username !== undefined ? { username: c.username } : {}),
      ...(c.password !== undefined ? { password: Buffer.from(c.password) } : {}),
      ...(c.will ? { will: { qos: 0, retain: false, ...c.will } } : {}),
    });
  if (clearClean) {
    // fixed header (1 + 1 length byte for these small packets) + "MQTT" (2 + 4) + level (1)
    const flagsAt = 2 + 6 + 1;
    bytes[flagsAt] = (bytes[flagsAt] as number) & ~0x02;
  }
  socket.write(bytes);
  return { socket, returnCode: await connack, parser };
}

export function closed(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));
}

/** SUBACK return codes for `filters` (mqtt.js rejects when any is 0x80; we want them all). */
export async function subackCodes(client: MqttClient, filters: string[], qos: 0 | 1 = 1): Promise<number[]> {
  try {
    const granted = await client.subscribeAsync(filters, { qos });
    return granted.map((g) => g.qos);
  } catch (err) {
    const packet = (err as { packet?: { granted?: (number | { reasonCode: number })[] } }).packet;
    if (!packet?.granted) throw err;
    return packet.granted.map((g) => (typeof g === 'number' ? g : g.reasonCode));
  }
}
