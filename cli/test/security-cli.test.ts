import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCloudConfig } from '../../cloud/src/config.js';
import { startCloud, type CloudHandle } from '../../cloud/src/start.js';
import { cloudEnv, silentLogger, startBroker, startEdgeStub, tempDir, waitFor, type EdgeStub, type TestBroker } from '../../cloud/test/helpers.js';
import { runInProcess } from './serial-support.js';

/** `yulan security alerts|rules` against a real cloud whose monitor watches sign-ins. */
const ADMIN = 'admin-token-0123456789-abcdefghijklmnop';
const tmp = tempDir('yulan-security-cli-');
let broker: TestBroker; let edge: EdgeStub; let cloud: CloudHandle;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  broker = await startBroker({ cloud: 'cloud-pw' });
  edge = await startEdgeStub();
  cloud = await startCloud(loadCloudConfig(cloudEnv(tmp.dir, broker, edge, 'cloud-pw', {
    YULAN_ADMIN_TOKEN: ADMIN, YULAN_SECURITY_SAMPLE_MS: '200', YULAN_SECURITY_RULES: 'sign-in=2/60,api-credentials=off',
  })), silentLogger, { dashboardDir: null });
  env = { YULAN_CLOUD_URL: cloud.url, YULAN_ADMIN_TOKEN: ADMIN };
});
afterAll(async () => {
  await cloud?.close(); await edge?.close(); await broker?.close();
  tmp.cleanup();
});

describe('yulan security', () => {
  it('lists no alert while all is calm, then the open sign-in alert after wrong sign-ins; --json and --open', async () => {
    const calm = await runInProcess(['security', 'alerts'], env);
    expect(calm.code).toBe(0);
    expect(calm.stdout).toContain('0 open;');
    expect(calm.stdout).toContain('broker counters not watched (YULAN_BROKER_ADMIN_URL unset)');
    for (let i = 0; i < 2; i++) {
      await fetch(`${cloud.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ login: 'mallory', password: 'guess number one' }) });
    }
    const json = await waitFor(async () => {
      const r = await runInProcess(['security', 'alerts', '--open', '--json'], env);
      const body = JSON.parse(r.stdout) as { items: { rule: string; closedAt: string | null }[] };
      return body.items.length > 0 ? body : undefined;
    }, 'the sign-in alert listed');
    expect(json.items).toEqual([expect.objectContaining({ rule: 'sign-in', closedAt: null })]);
    const human = await runInProcess(['security', 'alerts'], env);
    expect(human.stdout).toMatch(/sign-in\s+OPEN/);
    expect(human.stdout).toContain('1 open;');
    const rules = await runInProcess(['security', 'rules'], env);
    expect(rules.stdout).toMatch(/sign-in\s+cloud\s+2\s+60 s/);
    expect(rules.stdout).not.toContain('api-credentials');
  });

  it('sets a minimum firmware version, lists the devices below it, clears it', async () => {
    const auth = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
    for (const [id, fw] of [['lock-1', '0.9.0'], ['lock-2', '2.0.0']]) {
      const r = await fetch(`${cloud.url}/api/v1/devices`, { method: 'POST', headers: auth, body: JSON.stringify({ id, site: 'xuhui', kind: 'parcel-locker', firmwareVersion: fw }) });
      expect(r.status).toBe(201);
    }
    const set = await runInProcess(['security', 'minimum', 'parcel-locker', '1.0.0', '--fixes-vulnerability', '--advisory', 'YSA-2026-02'], env);
    expect(set.code).toBe(0);
    expect(set.stdout).toContain('parcel-locker: firmware below 1.0.0 is no longer supported (security update); 1 device(s) need an update');
    expect((await runInProcess(['security', 'minimum'], env)).stdout).toMatch(/parcel-locker\s+1\.0\.0\s+yes\s+YSA-2026-02/);
    const list = await runInProcess(['security', 'updates'], env);
    expect(list.stdout).toMatch(/lock-1\s+parcel-locker\s+xuhui\s+\S+\s+0\.9\.0\s+1\.0\.0\s+yes/);
    expect(list.stdout).not.toContain('lock-2');
    expect((await runInProcess(['security', 'minimum', 'parcel-locker', 'soon'], env)).code).not.toBe(0);
    expect((await runInProcess(['security', 'minimum', 'parcel-locker', '--clear'], env)).code).toBe(0);
    expect((await runInProcess(['security', 'updates'], env)).stdout).toContain('0 device(s) need a firmware update');
  });

  it('refuses a bad action or argument with usage (exit 2), and a wrong token with the cloud\'s answer', async () => {
    expect((await runInProcess(['security', 'frob'], env)).code).toBe(2);
    expect((await runInProcess(['security', 'alerts', 'extra'], env)).code).toBe(2);
    expect((await runInProcess(['security', 'alerts', '--limit', '0'], env)).code).toBe(2);
    const wrong = await runInProcess(['security', 'alerts'], { ...env, YULAN_ADMIN_TOKEN: 'x'.repeat(40) });
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain('the cloud refused the admin token (HTTP 401)');
  });
});
