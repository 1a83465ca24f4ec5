import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLOUD_ADMIN_TOKEN, useCloudOnPostgres, usePostgres } from './pg-support.js';

/** The cloud with YULAN_DATABASE_URL keeps people, sessions and the audit log in PostgreSQL's `people` schema. */
const ADMIN = CLOUD_ADMIN_TOKEN;
const pgs = usePostgres();
const stack = useCloudOnPostgres(pgs, 'yulan-people-pg-start-');

describe.skipIf(pgs.skip)('startCloud on PostgreSQL: people', () => {
  it('migrates the people schema, signs a person in and out through it, and writes no people.sqlite', async () => {
    const { cloud, db, dataDir } = await stack.start();
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
    expect(existsSync(join(dataDir, 'people.sqlite'))).toBe(false);
  });
});
