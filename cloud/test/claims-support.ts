import fs from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { connectAsync, type MqttClient } from 'mqtt';
import { provisionRequestTopic, provisionResponseTopic, type ProvisionResponse } from '@yulan/protos';
import { buildApp } from '../src/app.js';
import { digestToken } from '../src/auth-tokens.js';
import { createHttpEdgeClient } from '../src/edge-client.js';
import { openClaims, type ClaimsModule } from '../src/claims/index.js';
import type { DeviceCertsModule } from '../src/device-certs/index.js';
import { SqliteDeviceRepository } from '../src/repositories/sqlite-device-repository.js';
import { BROKER_TOKEN } from '../../broker/test/helpers.js';
import { deadUrl, silentLogger } from './helpers.js';

export const ADMIN = 'admin-token-0123456789-abcdefghijklmnop';
export const adminAuth = { authorization: `Bearer ${ADMIN}` };

/** A real cloud (Fastify, SQLite files in `dir`) with the claims module, restartable on the
 * same files and port: what a restart of the process keeps is what the files keep. */
export class ClaimCloud {
  app!: FastifyInstance;
  claims!: ClaimsModule;
  devices!: SqliteDeviceRepository;
  port = 0;
  /** added to the real clock: lets a test move past a claim's expiry */
  offsetMs = 0;

  constructor(readonly dir: string, private readonly extra: { certs?: DeviceCertsModule; exchangesPerMinute?: number; mqtt?: Parameters<typeof openClaims>[0]['mqtt'] } = {}) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.devices = new SqliteDeviceRepository({ file: path.join(this.dir, 'registry.sqlite') });
    this.claims = await openClaims({
      db: { kind: 'sqlite', file: path.join(this.dir, 'claims.sqlite') }, devices: this.devices, logger: silentLogger, now: () => Date.now() + this.offsetMs,
      ...(this.extra.certs ? { certs: this.extra.certs } : {}), ...(this.extra.exchangesPerMinute !== undefined ? { exchangesPerMinute: this.extra.exchangesPerMinute } : {}),
      ...(this.extra.mqtt ? { mqtt: this.extra.mqtt } : {}),
    });
    this.app = await buildApp({
      logger: silentLogger, devices: this.devices, edge: createHttpEdgeClient({ baseUrl: await deadUrl(), token: 't' }),
      control: { connected: () => true, publishRevoke: async () => undefined },
      adminTokenDigest: digestToken(ADMIN), brokerToken: BROKER_TOKEN, dashboardDir: null, claims: this.claims,
      ...(this.extra.certs ? { deviceCerts: this.extra.certs } : {}),
    });
    await this.app.listen({ host: '127.0.0.1', port: this.port });
    this.port = (this.app.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    await this.app.close();
    await this.claims.close();
    await this.devices.close();
  }

  async createClaim(body: Record<string, unknown>): Promise<{ secret: string; claim: { id: string; status: string; usedCount: number } }> {
    const r = await this.app.inject({ method: 'POST', url: '/api/v1/claims', headers: adminAuth, payload: body });
    if (r.statusCode !== 201) throw new Error(`claim create answered ${r.statusCode}: ${r.body}`);
    return r.json();
  }

  async get(url: string): Promise<unknown> {
    const r = await this.app.inject({ url, headers: adminAuth });
    if (r.statusCode !== 200) throw new Error(`${url} answered ${r.statusCode}: ${r.body}`);
    return r.json();
  }
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

export function claimLogin(mqttUrl: string, claimId: string, serial: string, secret: string): Promise<MqttClient> {
  return connectAsync(mqttUrl, {
    protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10_000, clientId: `claim:${claimId}:${serial}`, username: `claim:${claimId}`, password: secret,
  });
}

/** One exchange over MQTT as a device does it: subscribe to the response, publish the
 * request, wait for the answer. */
export async function requestIdentity(c: MqttClient, claimId: string, serial: string, body: object = {}): Promise<ProvisionResponse> {
  const responseTopic = provisionResponseTopic(claimId, serial);
  const answer = new Promise<ProvisionResponse>((resolve) => {
    c.on('message', (topic, payload) => { if (topic === responseTopic) resolve(JSON.parse(payload.toString('utf8')) as ProvisionResponse); });
  });
  const granted = await c.subscribeAsync(responseTopic, { qos: 1 });
  if (granted[0]?.qos !== 1) throw new Error(`response subscription refused: ${JSON.stringify(granted)}`);
  await c.publishAsync(provisionRequestTopic(claimId, serial), Buffer.from(JSON.stringify(body)), { qos: 1 });
  return answer;
}

export async function exchangeOverMqtt(mqttUrl: string, claimId: string, serial: string, secret: string, body: object = {}): Promise<ProvisionResponse> {
  const c = await claimLogin(mqttUrl, claimId, serial, secret);
  try {
    return await requestIdentity(c, claimId, serial, body);
  } finally {
    await c.endAsync();
  }
}
