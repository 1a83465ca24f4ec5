import { existsSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCloudConfig } from '../src/config.js';
import { PostgresDatabase } from '../src/db/postgres.js';
import { startCloud, type CloudHandle } from '../src/start.js';
import { cloudEnv, silentLogger, startBroker, startEdgeStub, tempDir, type EdgeStub, type TestBroker } from './helpers.js';
import { usePostgres } from './pg-support.js';

/** The cloud with YULAN_DATABASE_URL keeps people, sessions and the audit log in PostgreSQL's `people` schema. */
const ADMIN = 'admin-token-0123456789-abcdefghijklmnop';
const pgs = usePostgres();
const tmp = tempDir('yulan-people-pg-start-');
let broker: TestBroker | undefined;
let edge: EdgeStub | undefined;
let cloud: CloudHandle | undefined;
let db: PostgresDatabase | undefined;
afterAll(async () => {
  await cloud?.close();
  await edge?.close();
  await broker?.close();
  await db?.close();
  tmp.cleanup();
});

describe.skipIf(pgs.skip)('startCloud on PostgreSQL: people', () => {
  it('migrates the people schema, signs a person in and out through it, and writes no people.sqlite', async () => {
    const url = await pgs.server().createDatabase(`people_start_${process.pid}`);
    broker = await startBroker({ cloud: 'cloud-pw' });
    edge = await startEdgeStub();
    cloud = await startCloud(loadCloudConfig(cloudEnv(tmp.dir, broker, edge, 'cloud-pw', { YULAN_ADMIN_TOKEN: ADMIN, YULAN_DATABASE_URL: url })), silentLogger, { dashboardDir: null });
    const created = await fetch(`${cloud.url}/api/v1/people`, {
      method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ login: 'chen.jie', name: '陈洁', role: 'worker', password: 'a long enough password' }),
    });
    expect(created.status).toBe(201);
    const again = await fetch(`${cloud.url}/api/v1/people`, {
      method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ login: 'CHEN.JIE', name: 'x', role: 'worker', password: 'a long enough password' }),
    });
    expect(again.status).toBe(409);
    const login = await fetch(`${cloud.url}/api/v1/auth/login`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ login: 'chen.jie', password: 'a long enough password' }),
    });
    expect(login.status).toBe(200);
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const token = cookie.split('=')[1] ?? '';
    expect((await fetch(`${cloud.url}/api/v1/me`, { headers: { cookie } })).status).toBe(200);

    db = new PostgresDatabase({ url, logger: pino({ level: 'silent' }) });
    const v = await db.query<{ version: number }>('version', "SELECT version FROM public.yulan_schema WHERE component = 'people'");
    expect(v.rows[0]?.version).toBe(1);
    const users = await db.query<{ login: string; password_hash: string }>('users', 'SELECT login, password_hash FROM people.users');
    expect(users.rows).toHaveLength(1);
    expect(users.rows[0]?.password_hash).not.toContain('a long enough password');
    const sessions = await db.query<{ digest: string }>('sessions', 'SELECT digest FROM people.sessions');
    expect(sessions.rows).toHaveLength(1);
    expect(sessions.rows[0]?.digest).not.toBe(token);

    expect((await fetch(`${cloud.url}/api/v1/auth/logout`, { method: 'POST', headers: { cookie } })).status).toBeLessThan(300);
    expect((await fetch(`${cloud.url}/api/v1/me`, { headers: { cookie } })).status).toBe(401);
    expect((await db.query('sessions', 'SELECT 1 FROM people.sessions')).rowCount).toBe(0);
    expect(existsSync(join(tmp.dir, 'cloud', 'people.sqlite'))).toBe(false);
  });
});
