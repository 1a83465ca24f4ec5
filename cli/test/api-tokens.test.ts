import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runUp, type UpHandle } from '../src/up.js';
import { runInProcess } from './serial-support.js';
import { api, eventually, tempDir } from './support.js';

const SCOPES = ['telemetry:read', 'events:read', 'alerts:read', 'commands:send', 'twin:read', 'twin:write'] as const;
type Scope = (typeof SCOPES)[number];

/** Reads an SSE response until `until` shows up in what arrived; returns the text so far. */
async function readUntil(res: Response, until: string): Promise<string> {
  const reader = res.body!.getReader();
  let text = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return text;
    text += Buffer.from(value).toString('utf8');
    if (text.includes(until)) {
      void reader.cancel().catch(() => undefined);
      return text;
    }
  }
}

// The real cloud as `yulan up` starts it (simulated devices at one site, one more device registered at another), the CLI
// in-process, plain HTTP. Every log line of the whole stack is kept to look for tokens.
describe('scoped API tokens (yulan up, CLI, real cloud)', () => {
  const tmp = tempDir('yulan-api-tokens-');
  const logLines: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => { logLines.push(s); } });
  let up: UpHandle;
  let env: NodeJS.ProcessEnv;
  let base: string;
  let admin: string;
  const dev = { env: '', envOther: '', fall: '' };
  let commandId: string;
  const issued: string[] = [];

  const cli = async (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => runInProcess(['integration', ...args], env);
  const token = async (args: string[]): Promise<{ id: string; token: string }> => {
    const r = await cli(['token', 'add', ...args, '--json']);
    expect(r.stderr).toBe('');
    const body = JSON.parse(r.stdout) as { apiToken: { id: string }; token: string };
    issued.push(body.token);
    return { id: body.apiToken.id, token: body.token };
  };
  const call = (t: string, method: string, path: string, body?: object) =>
    fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${t}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
  /** One request per scope-guarded route, each answering 2xx when allowed. */
  const routes = (): Record<Scope, (t: string) => Promise<Response>> => ({
    'telemetry:read': (t) => call(t, 'GET', `/api/v1/devices/${dev.env}/telemetry`),
    'events:read': (t) => call(t, 'GET', `/api/v1/devices/${dev.env}/events`),
    'alerts:read': (t) => call(t, 'GET', '/api/v1/alerts/stream'),
    'commands:send': (t) => call(t, 'GET', `/api/v1/commands/${commandId}`),
    'twin:read': (t) => call(t, 'GET', `/api/v1/devices/${dev.env}/twin`),
    'twin:write': (t) => call(t, 'PUT', `/api/v1/devices/${dev.env}/twin/desired`, { settings: { report_interval_s: 30 } }),
  });
  const status = async (p: Promise<Response>): Promise<number> => {
    const res = await p;
    await res.body?.cancel().catch(() => undefined);
    return res.status;
  };

  beforeAll(async () => {
    up = await runUp({
      YULAN_DATA_DIR: tmp.dir, YULAN_MQTT_PORT: '0', YULAN_WS_PORT: '0', YULAN_HTTP_PORT: '0', YULAN_EDGE_HTTP_PORT: '0',
      YULAN_MQTT_HOST: '127.0.0.1', YULAN_HTTP_HOST: '127.0.0.1', YULAN_SIM_DEVICES: '1', YULAN_SIM_RATE: '1', YULAN_SIM_SITES: 'xuhui',
    }, logger, () => {});
    base = `http://127.0.0.1:${up.httpPort}`;
    admin = up.adminToken!;
    env = { YULAN_CLOUD_URL: base, YULAN_ADMIN_TOKEN: admin };
    const find = (q: string) => eventually(async () => (await api<{ items: { id: string }[] }>(base, admin, `/api/v1/devices?${q}`)).body.items[0]?.id, q);
    dev.env = await find('kind=env-monitor&site=xuhui');
    // A device of another site, registered as an operator would.
    dev.envOther = 'env-pudong-1';
    expect((await api(base, admin, '/api/v1/devices', { method: 'POST', body: JSON.stringify({ id: dev.envOther, site: 'pudong', kind: 'env-monitor' }) })).status).toBe(201);
    dev.fall = await find('kind=fall-sensor&site=xuhui');
    const cmd = await api<{ id: string }>(base, admin, `/api/v1/devices/${dev.env}/commands`, { method: 'POST', body: JSON.stringify({ name: 'env.set_interval', args: { interval_s: 20 } }) });
    expect(cmd.status).toBe(201);
    commandId = cmd.body.id;
    expect((await cli(['add', 'nodered', '--read', 'yulan/v1/xuhui/+/+/telemetry'])).code).toBe(0);
    expect((await cli(['add', 'carebridge', '--read', 'yulan/v1/xuhui/fall-sensor/+/event', '--health'])).code).toBe(0);
  });
  afterAll(async () => {
    await up?.close();
    tmp.cleanup();
  });

  it('each scope opens its own routes and no other; registry, admin and care routes stay closed', async () => {
    for (const scope of SCOPES) {
      const t = await token([scope === 'alerts:read' ? 'carebridge' : 'nodered', '--scope', scope]);
      for (const [route, request] of Object.entries(routes()) as [Scope, (t: string) => Promise<Response>][]) {
        expect({ scope, route, status: await status(request(t.token)) }).toEqual({ scope, route, status: route === scope ? 200 : 403 });
      }
      expect(await status(call(t.token, 'POST', `/api/v1/devices/${dev.env}/commands`, { name: 'env.set_interval', args: { interval_s: 25 } })))
        .toBe(scope === 'commands:send' ? 201 : 403);
      // Never the registry, the fleet list, integrations, tokens or people's care routes.
      expect(await status(call(t.token, 'GET', '/api/v1/devices'))).toBe(403);
      expect(await status(call(t.token, 'POST', `/api/v1/devices/${dev.env}/disable`))).toBe(403);
      expect(await status(call(t.token, 'GET', '/api/v1/integrations'))).toBe(401);
      expect(await status(call(t.token, 'POST', '/api/v1/api-tokens', { integration: 'nodered', scopes: ['twin:write'] }))).toBe(401);
      expect(await status(call(t.token, 'GET', '/api/v1/alerts'))).toBe(401);
    }
  });

  it('sites and kinds limit the devices; health data needs the integration\'s health grant', async () => {
    const xuhuiEnv = await token(['nodered', '--scope', 'twin:read', '--scope', 'telemetry:read', '--site', 'xuhui', '--kind', 'env-monitor']);
    expect(await status(call(xuhuiEnv.token, 'GET', `/api/v1/devices/${dev.env}/twin`))).toBe(200);
    expect(await status(call(xuhuiEnv.token, 'GET', `/api/v1/devices/${dev.envOther}/twin`))).toBe(404);
    expect(await status(call(xuhuiEnv.token, 'GET', `/api/v1/devices/${dev.fall}/twin`))).toBe(404);
    const anyKind = await token(['nodered', '--scope', 'telemetry:read']);
    const refused = await call(anyKind.token, 'GET', `/api/v1/devices/${dev.fall}/telemetry`);
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { message: string }).message).toMatch(/health grant/);
    const care = await token(['carebridge', '--scope', 'telemetry:read']);
    expect(await status(call(care.token, 'GET', `/api/v1/devices/${dev.fall}/telemetry`))).toBe(200);
    // alerts:read without the grant is refused when the token is made.
    const r = await cli(['token', 'add', 'nodered', '--scope', 'alerts:read']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/health/);
    // The grant taken away applies to existing tokens at their next request.
    expect((await cli(['set', 'carebridge', '--no-health'])).code).toBe(0);
    expect(await status(call(care.token, 'GET', `/api/v1/devices/${dev.fall}/telemetry`))).toBe(403);
    expect((await cli(['set', 'carebridge', '--health'])).code).toBe(0);
    expect(await status(call(care.token, 'GET', `/api/v1/devices/${dev.fall}/telemetry`))).toBe(200);
  });

  it('revoked tokens, disabled integrations and unknown tokens are refused; an open alert stream ends on revoke', async () => {
    const t = await token(['carebridge', '--scope', 'alerts:read', '--scope', 'twin:read']);
    const stream = await call(t.token, 'GET', '/api/v1/alerts/stream');
    expect(stream.status).toBe(200);
    const reading = readUntil(stream, 'event: end');
    expect((await cli(['disable', 'carebridge'])).code).toBe(0);
    expect(await status(call(t.token, 'GET', `/api/v1/devices/${dev.env}/twin`))).toBe(401);
    expect((await cli(['enable', 'carebridge'])).code).toBe(0);
    expect(await status(call(t.token, 'GET', `/api/v1/devices/${dev.env}/twin`))).toBe(200);
    const revoked = await cli(['token', 'revoke', t.id]);
    expect(revoked.stdout).toContain(`${t.id}: revoked`);
    expect(await reading).toContain('"reason":"token-revoked"');
    const res = await call(t.token, 'GET', `/api/v1/devices/${dev.env}/twin`);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { message: string }).message).toBe('API token revoked');
    // A well-formed token with a wrong secret, and garbage, are plain 401s.
    const forged = `${t.token.slice(0, 21)}${'A'.repeat(43)}`;
    expect(await status(call(forged, 'GET', `/api/v1/devices/${dev.env}/twin`))).toBe(401);
    expect(await status(call('ylt_nonsense', 'GET', `/api/v1/devices/${dev.env}/twin`))).toBe(401);
    const list = await cli(['token', 'list', 'carebridge']);
    expect(list.stdout).toMatch(new RegExp(`${t.id}.*revoked`));
  });

  it('the audit trail names every token change; no token is ever logged, listed or stored', async () => {
    const audit = await cli(['audit', 'carebridge', '--json']);
    const actions = (JSON.parse(audit.stdout) as { items: { action: string }[] }).items.map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['token.create', 'token.revoke']));
    const listed = JSON.stringify((await api(base, admin, '/api/v1/api-tokens')).body);
    // The database with its write-ahead log (recent writes may be only there).
    const file = join(tmp.dir, 'cloud', 'integrations.sqlite');
    const db = Buffer.concat([readFileSync(file), existsSync(`${file}-wal`) ? readFileSync(`${file}-wal`) : Buffer.alloc(0)]);
    expect(db.includes(Buffer.from('token.create'))).toBe(true);
    const logs = logLines.join('');
    expect(issued.length).toBeGreaterThan(8);
    expect(logs).toContain('API token refused');
    for (const t of issued) {
      const secret = t.slice(21);
      expect(listed).not.toContain(secret);
      expect(db.includes(Buffer.from(secret))).toBe(false);
      expect(logs).not.toContain(secret);
    }
  });
});
