import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runUp, type UpHandle } from '../src/up.js';
import { connect, eventually, readSecrets, tempDir } from './support.js';

/** Every line every service logged, at debug level, through a full `yulan up` run. */
describe('no secret in any log line (ETSI EN 303 645 5.4-1)', () => {
  const tmp = tempDir('yulan-log-secrets-');
  const lines: string[] = [];
  const sink = new Writable({ write(chunk: Buffer, _enc, cb) { lines.push(chunk.toString()); cb(); } });
  const logger = pino({ level: 'debug' }, sink);
  const printed: string[] = [];
  let up: UpHandle | undefined;
  let adminToken = '';
  let demoPasswords: string[] = [];

  beforeAll(async () => {
    up = await runUp({
      YULAN_DATA_DIR: tmp.dir,
      YULAN_MQTT_PORT: '0', YULAN_WS_PORT: '0', YULAN_HTTP_PORT: '0', YULAN_EDGE_HTTP_PORT: '0', YULAN_DEMO_PAGER_PORT: '0',
      YULAN_SIM_DEVICES: '1', YULAN_SIM_RATE: '2', YULAN_SIM_SITES: 'xuhui',
    }, logger, (l) => printed.push(l));
    const base = `http://127.0.0.1:${up.httpPort}`;
    adminToken = up.adminToken!;
    demoPasswords = up.careDemo!.accounts.map((a) => a.password);
    // right and wrong credentials on every door: sign-in, the API, MQTT
    const family = up.careDemo!.accounts.find((a) => a.role === 'family')!;
    const json = { 'content-type': 'application/json' };
    await fetch(`${base}/api/v1/auth/login`, { method: 'POST', headers: json, body: JSON.stringify({ login: family.login, password: family.password }) });
    await fetch(`${base}/api/v1/auth/login`, { method: 'POST', headers: json, body: JSON.stringify({ login: family.login, password: `${family.password}-wrong` }) });
    await fetch(`${base}/api/v1/devices`, { headers: { authorization: `Bearer ${up.adminToken!}` } });
    await fetch(`${base}/api/v1/devices`, { headers: { authorization: `Bearer ${up.adminToken!}x` } });
    const creds = JSON.parse(fs.readFileSync(path.join(tmp.dir, 'sims', 'credentials.json'), 'utf8')) as { devices: Record<string, { secret: string }> };
    const [id, dev] = Object.entries(creds.devices)[0]!;
    await connect(`mqtt://127.0.0.1:${up.mqttPort}`, { clientId: id, username: id, password: `${dev.secret}-wrong` }).catch(() => undefined);
    await eventually(async () => (await fetch(`${base}/api/v1/devices/${id}`, { headers: { authorization: `Bearer ${up!.adminToken!}` } })).ok, 'the device registry answering');
    await up.close();
    up = undefined;
  });
  afterAll(async () => {
    await up?.close();
    tmp.cleanup();
  });

  it('logs plenty, and none of it contains a secret, a token, a password or key material', () => {
    expect(lines.length).toBeGreaterThan(20);
    const secrets: string[] = [];
    secrets.push(...Object.values(readSecrets(tmp.dir)).filter((v) => typeof v === 'string' && v.length >= 16));
    const creds = JSON.parse(fs.readFileSync(path.join(tmp.dir, 'sims', 'credentials.json'), 'utf8')) as { devices: Record<string, { secret: string }> };
    secrets.push(...Object.values(creds.devices).map((d) => d.secret));
    const demo = JSON.parse(fs.readFileSync(path.join(tmp.dir, 'care-demo.json'), 'utf8')) as unknown;
    // every string the demo file keeps under a password/secret/token key
    const walk = (v: unknown): void => {
      if (!v || typeof v !== 'object') return;
      for (const [k, x] of Object.entries(v)) {
        if (typeof x === 'string' && /password|secret|token/i.test(k)) secrets.push(x);
        else walk(x);
      }
    };
    walk(demo);
    secrets.push(adminToken, ...demoPasswords);
    // key material: every base64 line of every private key and the download-token key
    const keyFiles = [
      path.join(tmp.dir, 'tls', 'ca-key.pem'), path.join(tmp.dir, 'tls', 'server-key.pem'),
      path.join(tmp.dir, 'firmware-keys', 'dev-signing-key.pem'), path.join(tmp.dir, 'cloud', 'firmware', 'download-token.key'),
    ];
    for (const f of keyFiles) {
      for (const l of fs.readFileSync(f, 'utf8').split('\n')) if (!l.startsWith('-----') && l.trim().length >= 16) secrets.push(l.trim());
    }
    expect(secrets.length).toBeGreaterThan(8);
    const all = lines.join('');
    const leaked = secrets.filter((s) => all.includes(s));
    expect(leaked.map((s) => `${s.slice(0, 4)}…`)).toEqual([]);
  });
});
