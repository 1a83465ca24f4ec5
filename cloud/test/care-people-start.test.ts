import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCloudConfig } from '../src/config.js';
import { startCloud, type CloudHandle } from '../src/start.js';
import { cloudEnv, silentLogger, startBroker, startEdgeStub, tempDir, type EdgeStub, type TestBroker } from './helpers.js';

const ADMIN = 'admin-token-0123456789-abcdefghijklmnop';
const tmp = tempDir('yulan-people-start-');
let broker: TestBroker;
let edge: EdgeStub;
let cloud: CloudHandle;

beforeAll(async () => {
  broker = await startBroker({ cloud: 'cloud-pw' });
  edge = await startEdgeStub();
  cloud = await startCloud(loadCloudConfig(cloudEnv(tmp.dir, broker, edge, 'cloud-pw', { YULAN_ADMIN_TOKEN: ADMIN })), silentLogger, { dashboardDir: null });
});
afterAll(async () => {
  await cloud?.close();
  await edge?.close();
  await broker?.close();
  tmp.cleanup();
});

describe('startCloud with the people module', () => {
  it('opens people.sqlite in the data dir and serves sign-in over real HTTP with the cookie', async () => {
    expect(existsSync(join(tmp.dir, 'cloud', 'people.sqlite'))).toBe(true);
    const created = await fetch(`${cloud.url}/api/v1/people`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ login: 'chen.jie', name: '陈洁', role: 'worker', password: 'a long enough password' }),
    });
    expect(created.status).toBe(201);
    const login = await fetch(`${cloud.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ login: 'chen.jie', password: 'a long enough password' }),
    });
    expect(login.status).toBe(200);
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    expect(cookie).toMatch(/^yulan_session=.+/);
    const me = await fetch(`${cloud.url}/api/v1/me`, { headers: { cookie } });
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({ principal: 'person', user: { name: '陈洁', role: 'worker' } });
  });
});
