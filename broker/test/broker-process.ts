import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { DeviceKind, KindSlug } from '@yulan/protos';
import { freePort } from '@yulan/testkit';
import { BROKER_TOKEN, testConfig } from './helpers.js';

/** `yulan broker` as a real child process (its own process group, so a SIGKILL takes the
 * cluster primary and its workers down together), for crash and cluster tests. */
const YULAN_BIN = fileURLToPath(new URL('../../cli/bin/yulan.js', import.meta.url));

/** Accepts every device as an env monitor on site-1: the cloud's device-auth endpoint. */
export async function fakeCloud(): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const { deviceId } = JSON.parse(body || '{}') as { deviceId?: string };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: true, device: { id: deviceId, site: 'site-1', kind: KindSlug[DeviceKind.ENV_MONITOR] } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

export interface BrokerProcess {
  mqttUrl: string;
  httpUrl: string;
  pid(): number;
  start(): Promise<void>;
  /** SIGKILL to the whole process group: primary and workers die at once. */
  kill(): Promise<void>;
  stop(): Promise<void>;
  output(): string;
}

export async function brokerProcess(dir: string, env: Record<string, string>): Promise<BrokerProcess> {
  const config = await testConfig(dir); // writes the accounts file
  const [mqtt, ws] = [await freePort(), await freePort()];
  const fullEnv = {
    PATH: process.env.PATH,
    YULAN_MQTT_HOST: '127.0.0.1',
    YULAN_MQTT_PORT: String(mqtt),
    YULAN_WS_PORT: String(ws),
    YULAN_BROKER_TOKEN: BROKER_TOKEN,
    YULAN_BROKER_ACCOUNTS_FILE: config.accountsFile,
    YULAN_DATA_DIR: dir,
    YULAN_LOG_FORMAT: 'json',
    YULAN_LOG_LEVEL: 'warn',
    ...env,
  };
  let child: ChildProcess | undefined;
  let out = '';
  const httpUrl = `http://127.0.0.1:${ws}`;
  const exited = (c: ChildProcess): Promise<void> =>
    new Promise((resolve) => (c.exitCode !== null || c.signalCode !== null ? resolve() : c.once('exit', () => resolve())));
  const api: BrokerProcess = {
    mqttUrl: `mqtt://127.0.0.1:${mqtt}`,
    httpUrl,
    pid: () => child?.pid ?? -1,
    output: () => out,
    async start() {
      const c = spawn(process.execPath, [YULAN_BIN, 'broker'], { env: fullEnv, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      const keep = (b: Buffer): void => { out = (out + b.toString()).slice(-8000); };
      c.stdout?.on('data', keep);
      c.stderr?.on('data', keep);
      child = c;
      const deadline = Date.now() + 30_000;
      for (;;) {
        if (c.exitCode !== null) throw new Error(`broker exited (${c.exitCode}):\n${out}`);
        const ok = await fetch(`${httpUrl}/healthz`).then((r) => r.json() as Promise<{ status: string }>, () => undefined);
        if (ok?.status === 'ok') return;
        if (Date.now() > deadline) throw new Error(`broker did not become healthy:\n${out}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async kill() {
      const c = child;
      if (!c?.pid) return;
      try { process.kill(-c.pid, 'SIGKILL'); } catch { /* already gone */ }
      await exited(c);
    },
    async stop() {
      const c = child;
      if (!c?.pid || c.exitCode !== null || c.signalCode !== null) return;
      const force = setTimeout(() => { try { process.kill(-c.pid!, 'SIGKILL'); } catch { /* gone */ } }, 15_000);
      c.kill('SIGTERM');
      await exited(c);
      clearTimeout(force);
    },
  };
  return api;
}

/** Worker pids of a cluster primary (its direct children), from /proc. */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    const text = fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
    if (text) out.push(...text.split(/\s+/).map(Number));
  }
  return out;
}
