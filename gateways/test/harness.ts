import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { freePort, waitFor as poll } from '@yulan/testkit';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import WebSocket from 'ws';
import { loadBrokerConfig, startBroker, type BrokerHandle } from '@yulan/broker';
import { loadCloudConfig, startCloud, type CloudHandle } from '@yulan/cloud';
import { loadEdgeConfig, startEdge, type EdgeHandle } from '@yulan/edge';
import { generateSecret, hashSecret } from '@yulan/protos';

export const logger = pino({ level: process.env.YULAN_TEST_LOG ?? 'silent' });

export { freePort };

export interface Platform {
  dir: string;
  env: Record<string, string>;
  cloudUrl: string;
  adminToken: string;
  broker: BrokerHandle;
  cloud: CloudHandle;
  edge: EdgeHandle;
  api<T = unknown>(path: string, init?: RequestInit & { json?: unknown }): Promise<{ status: number; body: T }>;
  /** Registers an ev-charger; returns its secret (= the OCPP AuthorizationKey). */
  addCharger(id: string, site?: string): Promise<string>;
  /** Env for the broker's gateway role (one multiplexed session): the `gw-test` account. */
  gatewayRoleEnv: Record<string, string>;
  /** With `opts.certBind`: the `gw-cert` account, which may bind chargers by certificate. */
  certBindEnv: Record<string, string>;
  close(): Promise<void>;
}

/** The real platform on free ports in a temp dir: Aedes broker (device auth through the
 * cloud), Fastify cloud with its SQLite registry, edge with the SQLite store. */
export async function startPlatform(extraEnv: Record<string, string> = {}, opts: { console?: boolean; certBind?: boolean } = {}): Promise<Platform> {
  const dir = mkdtempSync(join(tmpdir(), 'yulan-ocpp-'));
  const [mqttPort, wsPort, httpPort, edgePort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const s = { edge: generateSecret(), cloud: generateSecret(), broker: generateSecret(), edgeToken: generateSecret(), gateway: generateSecret(), gatewayMqtt: generateSecret() };
  const accountsFile = join(dir, 'accounts.json');
  writeFileSync(accountsFile, JSON.stringify([
    { username: 'edge', role: 'edge', hash: await hashSecret(s.edge) },
    { username: 'cloud', role: 'cloud', hash: await hashSecret(s.cloud) },
    { username: 'gw-test', role: 'gateway', hash: await hashSecret(s.gatewayMqtt) },
    ...(opts.certBind ? [{ username: 'gw-cert', role: 'gateway', certBind: ['ev-charger'], hash: await hashSecret(s.gatewayMqtt) }] : []),
  ]), { mode: 0o600 });
  const env: Record<string, string> = {
    YULAN_DATA_DIR: dir, YULAN_MQTT_HOST: '127.0.0.1', YULAN_HTTP_HOST: '127.0.0.1', YULAN_EDGE_HTTP_HOST: '127.0.0.1',
    YULAN_MQTT_PORT: String(mqttPort), YULAN_WS_PORT: String(wsPort), YULAN_HTTP_PORT: String(httpPort), YULAN_EDGE_HTTP_PORT: String(edgePort),
    YULAN_MQTT_URL: `mqtt://127.0.0.1:${mqttPort}`, YULAN_CLOUD_URL: `http://127.0.0.1:${httpPort}`, YULAN_EDGE_URL: `http://127.0.0.1:${edgePort}`,
    YULAN_BROKER_ACCOUNTS_FILE: accountsFile, YULAN_BROKER_TOKEN: s.broker, YULAN_EDGE_TOKEN: s.edgeToken,
    YULAN_EDGE_MQTT_PASSWORD: s.edge, YULAN_CLOUD_MQTT_PASSWORD: s.cloud, YULAN_GATEWAY_TOKEN: s.gateway,
    YULAN_BROKER_STARTUP_HOLD_MS: '0', YULAN_OCPP_HOST: '127.0.0.1', YULAN_OCPP_PORT: '0',
    ...extraEnv,
  };
  const broker = await startBroker(loadBrokerConfig(env), logger);
  // console: serve the built operator console (dashboards/www) at / as `yulan up` does.
  const cloud = await startCloud(loadCloudConfig(env), logger, opts.console ? {} : { dashboardDir: null });
  const edge = await startEdge(loadEdgeConfig(env), logger);
  const cloudUrl = `http://127.0.0.1:${httpPort}`;
  const adminToken = cloud.adminToken!;
  const api = async <T>(path: string, init: RequestInit & { json?: unknown } = {}): Promise<{ status: number; body: T }> => {
    const { json, ...rest } = init;
    const res = await fetch(cloudUrl + path, {
      ...rest, ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
      headers: { authorization: `Bearer ${adminToken}`, ...(json !== undefined ? { 'content-type': 'application/json' } : {}), ...rest.headers },
    });
    return { status: res.status, body: (await res.json().catch(() => undefined)) as T };
  };
  return {
    dir, env, cloudUrl, adminToken, broker, cloud, edge, api,
    gatewayRoleEnv: { YULAN_OCPP_MQTT_USERNAME: 'gw-test', YULAN_OCPP_MQTT_PASSWORD: s.gatewayMqtt },
    certBindEnv: opts.certBind ? { YULAN_OCPP_MQTT_USERNAME: 'gw-cert', YULAN_OCPP_MQTT_PASSWORD: s.gatewayMqtt, YULAN_OCPP_CERT_BIND: '1' } : {},
    async addCharger(id, site = 'xuhui') {
      const r = await api<{ secret: string }>('/api/v1/devices', { method: 'POST', json: { id, site, kind: 'ev-charger' } });
      if (r.status !== 201) throw new Error(`register ${id}: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body.secret;
    },
    async close() {
      await edge.close().catch(() => {});
      await cloud.close().catch(() => {});
      await broker.close().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Like testkit's, but 0 and '' count as found (probes here return counts and payloads). */
export async function waitFor<T>(fn: () => T | undefined | Promise<T | undefined>, what: string, timeoutMs = 30_000): Promise<T> {
  return poll(fn, what, { timeoutMs, intervalMs: 100, accept: (v) => v !== undefined && v !== false }) as Promise<T>;
}

type Frame = unknown[];

/**
 * A charge point written from the OCPP-J spec with raw `ws` frames — deliberately not
 * ocpp-rpc, so a framing bug shared with the gateway cannot hide.
 */
export class RawChargePoint {
  readonly frames: Frame[] = [];
  readonly calls: Frame[] = [];
  closed: { code: number; reason: string } | undefined;
  #n = 0;
  #waiters = new Map<string, (f: Frame) => void>();
  /** Answers to the gateway's CALLs by action (default: {status: 'Accepted'}). */
  answers: Record<string, (payload: Record<string, unknown>) => unknown> = {};

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const f = JSON.parse(String(data)) as Frame;
      this.frames.push(f);
      if (f[0] === 2) {
        this.calls.push(f);
        const answer = this.answers[f[2] as string]?.(f[3] as Record<string, unknown>) ?? { status: 'Accepted' };
        ws.send(JSON.stringify([3, f[1], answer]));
        return;
      }
      const w = this.#waiters.get(f[1] as string);
      if (w) { this.#waiters.delete(f[1] as string); w(f); }
    });
    ws.on('close', (code, reason) => { this.closed = { code, reason: reason.toString() }; });
  }

  static connect(url: string, id: string, key: string | undefined, protocols: string[] = ['ocpp1.6'], opts: WebSocket.ClientOptions = {}): Promise<RawChargePoint> {
    const headers: Record<string, string> = key === undefined ? {} : { authorization: `Basic ${Buffer.from(`${id}:${key}`).toString('base64')}` };
    const ws = new WebSocket(`${url}/${id}`, protocols, { headers, ...opts });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new RawChargePoint(ws)));
      ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })));
      ws.once('error', reject);
    });
  }

  /** Sends a CALL and resolves with the CALLRESULT/CALLERROR frame. */
  call(action: string, payload: unknown, id = `m${++this.#n}`): Promise<Frame> {
    return this.raw(JSON.stringify([2, id, action, payload]), id);
  }

  raw(text: string, expectId: string): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no answer to ${expectId}`)), 30_000);
      this.#waiters.set(expectId, (f) => { clearTimeout(t); resolve(f); });
      this.ws.send(text);
    });
  }

  /** Waits for the next frame answering nothing we sent (e.g. a CALLERROR with id ''). */
  async nextUnsolicited(from: number, pred: (f: Frame) => boolean): Promise<Frame> {
    return waitFor(() => this.frames.slice(from).find(pred), 'frame');
  }

  close(): void {
    this.ws.close();
  }
}

/** A TCP proxy gateway → broker that can be cut and restored. */
export function proxyTo(target: number): Promise<{ port: number; cut(): void; restore(): Promise<void>; close(): void }> {
  const sockets = new Set<Socket>();
  let server: Server;
  const listen = (at: number): Promise<number> => new Promise((resolve) => {
    server = createServer((s) => {
      const up = connect(target, '127.0.0.1');
      sockets.add(s).add(up);
      s.pipe(up).pipe(s);
      const end = (): void => { s.destroy(); up.destroy(); sockets.delete(s); sockets.delete(up); };
      s.on('error', end).on('close', end);
      up.on('error', end).on('close', end);
    });
    server.listen(at, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
  });
  return listen(0).then((at) => ({
    port: at,
    cut() { server.close(); for (const s of sockets) s.destroy(); },
    async restore() { await listen(at); },
    close() { server.close(); for (const s of sockets) s.destroy(); },
  }));
}

