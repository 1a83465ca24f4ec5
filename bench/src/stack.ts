import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSecret } from '@yulan/protos';
import { loadOrCreateSecrets, writeBrokerAccounts } from '@yulan/cli';
import { freePort } from '@yulan/testkit';
import { startService, waitFor, type Service } from './procs.js';
import { REPO_ROOT } from './report.js';

/** Broker, cloud and edge as separate `yulan` processes on free ports, wired like a
 * deployment; `extraEdgeEnv` selects the store. */
export interface Stack {
  dir: string;
  mqttUrl: string;
  cloudUrl: string;
  edgeUrl: string;
  adminToken: string;
  edgeToken: string;
  brokerToken: string;
  /** The broker's HTTP endpoint (health, metrics). */
  brokerHttpUrl: string;
  broker: Service;
  cloud: Service;
  edge: Service | undefined;
  /** Service-account passwords, for benchmark subscribers. */
  edgeMqttPassword: string;
  /** Starts the edge again with the same environment and data dir (after a kill). */
  restartEdge(): Promise<Service>;
  /** Starts the cloud again with the same environment and data dir (after a kill). */
  restartCloud(): Promise<Service>;
  /** Starts the broker again with the same environment (after a kill). */
  restartBroker(): Promise<Service>;
  stop(): Promise<void>;
}

export interface StackOptions {
  /** Extra broker environment (e.g. YULAN_BROKER_WORKERS for the clustered mode). */
  brokerEnv?: NodeJS.ProcessEnv;
  /** Extra cloud environment (e.g. YULAN_FIRMWARE_KEYS). */
  cloudEnv?: NodeJS.ProcessEnv;
  /** More broker accounts (e.g. a `gateway` role account for the ocpp scenario). */
  extraAccounts?: { username: string; role: string; hash: string }[];
}

export async function startStack(extraEdgeEnv: NodeJS.ProcessEnv | null = {}, profile: string[] = (process.env.YULAN_BENCH_PROFILE ?? '').split(',').filter(Boolean), opts: StackOptions = {}): Promise<Stack> {
  // extraEdgeEnv null: no edge (broker benchmarks bring their own subscriber).
  // YULAN_BENCH_PROFILE=broker,edge writes V8 CPU profiles of those services to bench-results/profiles.
  const prof = (name: string): string[] => (profile.includes(name) ? ['--cpu-prof', `--cpu-prof-dir=${join(REPO_ROOT, 'bench-results', 'profiles')}`] : []);
  const dir = mkdtempSync(join(tmpdir(), 'yulan-bench-'));
  const { secrets } = loadOrCreateSecrets(dir);
  const accounts = await writeBrokerAccounts(dir, secrets);
  if (opts.extraAccounts?.length) {
    writeFileSync(accounts, JSON.stringify([...(JSON.parse(readFileSync(accounts, 'utf8')) as unknown[]), ...opts.extraAccounts]), { mode: 0o600 });
  }
  const [mqtt, ws, http, edgeHttp] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const adminToken = generateSecret();
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    YULAN_DATA_DIR: dir,
    YULAN_MQTT_HOST: '127.0.0.1', YULAN_MQTT_PORT: String(mqtt), YULAN_WS_PORT: String(ws),
    YULAN_HTTP_HOST: '127.0.0.1', YULAN_HTTP_PORT: String(http), YULAN_EDGE_HTTP_PORT: String(edgeHttp),
    YULAN_MQTT_URL: `mqtt://127.0.0.1:${mqtt}`,
    YULAN_CLOUD_URL: `http://127.0.0.1:${http}`,
    YULAN_EDGE_URL: `http://127.0.0.1:${edgeHttp}`,
    YULAN_BROKER_ACCOUNTS_FILE: accounts,
    YULAN_BROKER_TOKEN: secrets.brokerToken,
    YULAN_EDGE_TOKEN: secrets.edgeToken,
    YULAN_EDGE_MQTT_PASSWORD: secrets.edgeMqttPassword,
    YULAN_CLOUD_MQTT_PASSWORD: secrets.cloudMqttPassword,
    YULAN_ADMIN_TOKEN: adminToken,
    // Benchmarks provision thousands of records from one address.
    YULAN_API_RATE_LIMIT: '1000000',
    // YULAN_BENCH_LOG_LEVEL=info: the services' logs, kept in each Service's tail().
    ...(process.env.YULAN_BENCH_LOG_LEVEL ? { YULAN_LOG_LEVEL: process.env.YULAN_BENCH_LOG_LEVEL } : {}),
    // Broker tuning under test passes through (e.g. YULAN_BROKER_BATCH_WRITES=false).
    ...(process.env.YULAN_BROKER_BATCH_WRITES ? { YULAN_BROKER_BATCH_WRITES: process.env.YULAN_BROKER_BATCH_WRITES } : {}),
  };
  const started: Service[] = [];
  const stop = async (): Promise<void> => {
    for (const s of started.reverse()) await s.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const broker = startService('broker', ['broker'], { ...env, ...opts.brokerEnv }, prof('broker'));
    started.push(broker);
    // Ready means this stack's broker answers with its token: a health check alone was once
    // answered by another suite's broker that had taken the port (testkit/src/ports.ts).
    const brokerReady = async (): Promise<boolean> => (await fetch(`http://127.0.0.1:${ws}/metrics`, { headers: { authorization: `Bearer ${secrets.brokerToken}` } })).ok;
    await waitFor(brokerReady, 'broker health', 30_000, broker);
    const cloud = startService('cloud', ['cloud'], { ...env, ...opts.cloudEnv }, prof('cloud'));
    started.push(cloud);
    await waitFor(async () => (await fetch(`http://127.0.0.1:${http}/healthz`)).status < 500, 'cloud health', 120_000, cloud);
    let edge: Service | undefined;
    if (extraEdgeEnv) {
      edge = startService('edge', ['edge'], { ...env, ...extraEdgeEnv }, prof('edge'));
      started.push(edge);
      const e = edge;
      await waitFor(async () => (await fetch(`http://127.0.0.1:${edgeHttp}/healthz`)).ok, 'edge health', 30_000, e);
    }
    const restartEdge = async (): Promise<Service> => {
      const e = startService('edge', ['edge'], { ...env, ...extraEdgeEnv }, prof('edge'));
      started.push(e);
      result.edge = e;
      await waitFor(async () => (await fetch(`http://127.0.0.1:${edgeHttp}/healthz`)).ok, 'edge health', 30_000, e);
      return e;
    };
    const restartCloud = async (): Promise<Service> => {
      const c = startService('cloud', ['cloud'], { ...env, ...opts.cloudEnv }, prof('cloud'));
      started.push(c);
      result.cloud = c;
      await waitFor(async () => (await fetch(`http://127.0.0.1:${http}/healthz`)).status < 500, 'cloud health', 30_000, c);
      return c;
    };
    const restartBroker = async (): Promise<Service> => {
      const b = startService('broker', ['broker'], { ...env, ...opts.brokerEnv }, prof('broker'));
      started.push(b);
      result.broker = b;
      await waitFor(brokerReady, 'broker health', 30_000, b);
      return b;
    };
    const result: Stack = {
      dir, adminToken, restartEdge, restartCloud, restartBroker, edgeToken: secrets.edgeToken, brokerToken: secrets.brokerToken, brokerHttpUrl: `http://127.0.0.1:${ws}`, edgeMqttPassword: secrets.edgeMqttPassword,
      mqttUrl: env.YULAN_MQTT_URL!, cloudUrl: env.YULAN_CLOUD_URL!, edgeUrl: env.YULAN_EDGE_URL!,
      broker, cloud, edge, stop,
    };
    return result;
  } catch (err) {
    await stop();
    throw err;
  }
}

export async function getJson<T>(url: string, token: string): Promise<T> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** Registers `count` devices per kind through the cloud API, a few at a time (each
 * registration hashes a secret with scrypt, which is deliberately slow). */
export async function registerDevices(stack: Stack, kinds: { slug: string; kind: number }[], count: number, site = 'bench'):
  Promise<{ id: string; site: string; kind: number; secret: string }[]> {
  const todo = kinds.flatMap((k) => Array.from({ length: count }, (_, i) => ({ ...k, id: `${k.slug}-b${String(i).padStart(5, '0')}` })));
  const out: { id: string; site: string; kind: number; secret: string }[] = [];
  const lanes = Array.from({ length: 8 }, async () => {
    for (let d = todo.shift(); d; d = todo.shift()) {
      const res = await fetch(`${stack.cloudUrl}/api/v1/devices`, {
        method: 'POST',
        headers: { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ id: d.id, site, kind: d.slug }),
      });
      if (res.status !== 201) throw new Error(`registering ${d.id}: ${res.status} ${await res.text()}`);
      const body = (await res.json()) as { secret: string };
      out.push({ id: d.id, site, kind: d.kind, secret: body.secret });
    }
  });
  await Promise.all(lanes);
  return out;
}
