import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { Type, type Static } from 'typebox';
import { Value } from 'typebox/value';
import { safeEqual } from '@yulan/protos';
import { SerialConfigError } from './config.js';
import type { SerialGatewayHandle } from './serial-gateway.js';

const PORT = '^(0|[1-9][0-9]{0,4})$';

/** The serial gateway's environment (the device map is in its config file). */
const EnvSchema = Type.Object({
  /** Unset: no HTTP listener. 0 = any free port. */
  YULAN_SERIAL_HTTP_PORT: Type.Optional(Type.String({ pattern: PORT })),
  YULAN_SERIAL_HTTP_HOST: Type.Optional(Type.String({ minLength: 1 })),
  /** Bearer for /metrics; required when the host is not loopback. */
  YULAN_SERIAL_HTTP_TOKEN: Type.Optional(Type.String({ minLength: 16 })),
});
type Env = Static<typeof EnvSchema>;

export interface SerialHttpConfig { host: string; port: number; token?: string }

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/** The HTTP side's settings, or undefined when YULAN_SERIAL_HTTP_PORT is unset; throws SerialConfigError listing every problem. */
export function loadSerialHttpConfig(env: Record<string, string | undefined>): SerialHttpConfig | undefined {
  const input: Record<string, string> = {};
  for (const k of Object.keys(EnvSchema.properties)) {
    const v = env[k];
    if (v !== undefined && v !== '') input[k] = v;
  }
  const problems = [...Value.Errors(EnvSchema, input)].map((e) => `${e.instancePath.replace(/^\//, '') || '(env)'}: ${e.message}`);
  const e = input as Env;
  if (e.YULAN_SERIAL_HTTP_PORT !== undefined && Number(e.YULAN_SERIAL_HTTP_PORT) > 65535) problems.push('YULAN_SERIAL_HTTP_PORT: must be 0..65535');
  const host = e.YULAN_SERIAL_HTTP_HOST ?? '127.0.0.1';
  // Device ids and port paths are the building's layout: off loopback, only with a token.
  if (!LOOPBACK.test(host) && e.YULAN_SERIAL_HTTP_TOKEN === undefined) problems.push(`YULAN_SERIAL_HTTP_HOST: ${host} is not loopback; set YULAN_SERIAL_HTTP_TOKEN too`);
  if (problems.length) throw new SerialConfigError(problems, 'environment');
  if (e.YULAN_SERIAL_HTTP_PORT === undefined) return undefined;
  return { host, port: Number(e.YULAN_SERIAL_HTTP_PORT), ...(e.YULAN_SERIAL_HTTP_TOKEN !== undefined && { token: e.YULAN_SERIAL_HTTP_TOKEN }) };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** `/metrics`: every counter per device and port, plus totals, so a flaky line shows before readings stop. */
export function serialMetrics(gw: SerialGatewayHandle): Record<string, unknown> {
  const devices: Record<string, unknown> = {};
  const totals = { frames: 0, checksumErrors: 0, lengthErrors: 0, garbageBytes: 0, disconnects: 0, timeouts: 0, silences: 0, online: 0, mqttConnected: 0 };
  for (const [id, s] of Object.entries(gw.status())) {
    devices[id] = {
      port: s.path, sensor: s.sensor, online: s.online, mqtt: s.mqtt,
      frames: s.frames.frames, checksumErrors: s.frames.checksumErrors, lengthErrors: s.frames.lengthErrors, garbageBytes: s.frames.garbageBytes,
      opens: s.port.opens, failedOpens: s.port.failedOpens, disconnects: s.port.disconnects, bytesIn: s.port.bytesIn, bytesOut: s.port.bytesOut,
      timeouts: s.timeouts, silences: s.silences ?? 0, ...(s.moduleFirmware !== undefined && { moduleFirmware: s.moduleFirmware }),
    };
    totals.frames += s.frames.frames;
    totals.checksumErrors += s.frames.checksumErrors;
    totals.lengthErrors += s.frames.lengthErrors;
    totals.garbageBytes += s.frames.garbageBytes;
    totals.disconnects += s.port.disconnects;
    totals.timeouts += s.timeouts;
    totals.silences += s.silences ?? 0;
    if (s.online) totals.online++;
    if (s.mqtt) totals.mqttConnected++;
  }
  return { devices, totals };
}

function handle(req: IncomingMessage, res: ServerResponse, gw: SerialGatewayHandle, token: string | undefined): void {
  const path = new URL(req.url ?? '/', 'http://gateway').pathname;
  if (req.method !== 'GET') return send(res, 405, { code: 'E_METHOD', message: 'GET only' });
  if (path === '/healthz') {
    const st = Object.values(gw.status());
    // The process is up (200); "degraded" says some sensor or its MQTT session is not.
    const up = st.filter((s) => s.online && s.mqtt).length;
    return send(res, 200, { status: up === st.length ? 'ok' : 'degraded', devices: st.length, up });
  }
  if (path === '/metrics') {
    if (token !== undefined) {
      const auth = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1];
      if (auth === undefined || !safeEqual(auth, token)) {
        res.setHeader('www-authenticate', 'Bearer realm="yulan-serial"');
        return send(res, 401, { code: 'E_UNAUTHORIZED', message: 'bearer YULAN_SERIAL_HTTP_TOKEN required' });
      }
    }
    return send(res, 200, serialMetrics(gw));
  }
  return send(res, 404, { code: 'E_NOT_FOUND', message: 'not found' });
}

/** `/healthz` (open) and `/metrics` of a running serial gateway. */
export async function startSerialHttp(gw: SerialGatewayHandle, c: SerialHttpConfig, log: Logger): Promise<{ port: number; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    try {
      handle(req, res, gw, c.token);
    } catch (err) {
      log.warn({ err }, 'serial http request failed');
      if (!res.headersSent) send(res, 500, { code: 'E_INTERNAL', message: 'internal error' });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(c.port, c.host, () => { server.off('error', reject); resolve(); });
  });
  const port = (server.address() as AddressInfo).port;
  log.info({ host: c.host, port }, 'serial gateway http (/healthz, /metrics)');
  return {
    port,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
