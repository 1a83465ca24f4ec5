import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { adminCommand } from '../src/admin-command.js';
import { runUp, type UpHandle } from '../src/up.js';
import { api, eventually, quietLogger, tempDir } from './support.js';

async function admin(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const sink = (append: (s: string) => void) => ({ isTTY: false, write: (s: string | Uint8Array) => { append(String(s)); return true; } }) as unknown as NodeJS.WriteStream;
  const code = await adminCommand(args, { env, stdout: sink((s) => { stdout += s; }), stderr: sink((s) => { stderr += s; }) });
  return { code, stdout, stderr };
}

interface Audit { items: { actor: string; action: string; detail: string | null }[] }

describe('yulan admin rotate-token', () => {
  const tmp = tempDir('yulan-rotate-');
  const upEnv = {
    YULAN_DATA_DIR: tmp.dir, YULAN_MQTT_PORT: '0', YULAN_WS_PORT: '0', YULAN_HTTP_PORT: '0', YULAN_EDGE_HTTP_PORT: '0',
    YULAN_MQTT_HOST: '127.0.0.1', YULAN_HTTP_HOST: '127.0.0.1', YULAN_SIM_DEVICES: '0', YULAN_CARE_DEMO: '0',
  };
  let up: UpHandle | undefined;
  afterAll(async () => {
    await up?.close();
    tmp.cleanup();
  });

  it('online with the current token, offline on a stopped data directory; the old token stops working; both audited', async () => {
    up = await runUp(upEnv, quietLogger, () => {});
    let base = `http://127.0.0.1:${up.httpPort}`;
    const first = up.adminToken!;
    const env = { YULAN_CLOUD_URL: base, YULAN_ADMIN_TOKEN: first, YULAN_DATA_DIR: tmp.dir };

    const online = await admin(['rotate-token', '--json'], env);
    expect(online.stderr).toBe('');
    expect(online.code).toBe(0);
    const second = (JSON.parse(online.stdout) as { token: string; mode: string }).token;
    expect(second).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    expect(second).not.toBe(first);
    expect((await api(base, first, '/api/v1/devices')).status).toBe(401);
    expect((await api(base, second, '/api/v1/devices')).status).toBe(200);
    // The old token cannot rotate again.
    const stale = await admin(['rotate-token'], env);
    expect(stale.code).toBe(4);
    expect(stale.stderr).toContain('refused the admin token');

    // Offline while the cloud runs on the directory: refused, nothing changed.
    const busy = await admin(['rotate-token', '--offline'], { YULAN_DATA_DIR: tmp.dir });
    expect(busy.code).toBe(4);
    expect(busy.stderr).toContain('the cloud is running on');
    expect((await api(base, second, '/api/v1/devices')).status).toBe(200);

    await up.close();
    up = undefined;
    const offline = await admin(['rotate-token'], { YULAN_DATA_DIR: tmp.dir });
    expect(offline.stderr).toBe('');
    const third = /New admin token \(shown once, store it now\): (\S+)/.exec(offline.stdout)?.[1];
    expect(third).toBeDefined();

    up = await runUp(upEnv, quietLogger, () => {});
    base = `http://127.0.0.1:${up.httpPort}`;
    expect(up.adminToken).toBeUndefined(); // a stored token exists: nothing generated
    expect((await api(base, second, '/api/v1/devices')).status).toBe(401);
    expect((await api(base, third!, '/api/v1/devices')).status).toBe(200);
    const audit = await api<Audit>(base, third!, '/api/v1/audit?limit=50');
    const rotations = audit.body.items.filter((i) => i.action === 'admin.token.rotate');
    expect(rotations.map((r) => r.actor)).toEqual([expect.stringMatching(/^local/), 'admin-token']);
    expect(rotations[0]!.detail).toContain('offline');
  }, 120_000);

  it('refuses an unknown action and a directory without cloud data', async () => {
    expect((await admin(['frob'], {})).code).toBe(2);
    const empty = tempDir('yulan-rotate-empty-');
    try {
      const r = await admin(['rotate-token', '--offline'], { YULAN_DATA_DIR: empty.dir });
      expect(r.code).toBe(4);
      expect(r.stderr).toContain('no cloud data at');
    } finally {
      empty.cleanup();
    }
  });

  it('refuses offline rotation when the token is in PostgreSQL, naming the two ways that work', async () => {
    const dir = tempDir('yulan-rotate-pg-');
    try {
      const r = await admin(['rotate-token', '--offline'], { YULAN_DATA_DIR: dir.dir, YULAN_DATABASE_URL: 'postgres://yulan@127.0.0.1:9/yulan' });
      expect(r.code).toBe(4);
      expect(r.stderr).toMatch(/kept in PostgreSQL: rotate online .* set a new YULAN_ADMIN_TOKEN .*\(E_OFFLINE_POSTGRES\)/);
      expect(r.stdout).toBe('');
    } finally {
      dir.cleanup();
    }
  });
});

describe('npm start keeps the admin token visible', () => {
  it('logs API requests at debug, not info (they buried the banner)', async () => {
    const tmp = tempDir('yulan-reqlog-');
    const lines: { level: number; msg: string; url?: string }[] = [];
    const sink = new Writable({ write(chunk: Buffer, _enc, done) { for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as never); done(); } });
    const up = await runUp({
      YULAN_DATA_DIR: tmp.dir, YULAN_MQTT_PORT: '0', YULAN_WS_PORT: '0', YULAN_HTTP_PORT: '0', YULAN_EDGE_HTTP_PORT: '0',
      YULAN_MQTT_HOST: '127.0.0.1', YULAN_HTTP_HOST: '127.0.0.1', YULAN_SIM_DEVICES: '0', YULAN_CARE_DEMO: '0',
    }, pino({ level: 'debug' }, sink), () => {});
    try {
      expect((await api(`http://127.0.0.1:${up.httpPort}`, up.adminToken!, '/api/v1/devices?site=reqlog')).status).toBe(200);
      const done = await eventually(() => lines.find((l) => l.msg === 'request completed' && l.url?.includes('site=reqlog')), 'the request line');
      expect(done.level).toBe(20);
      expect(lines.filter((l) => l.level >= 30 && /incoming request|request completed/.test(l.msg))).toEqual([]);
    } finally {
      await up.close();
      tmp.cleanup();
    }
  });
});
