import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { generateSecret } from '@yulan/protos';

/** What the demo created; the passwords exist only in this object and the one print. */
export interface CareDemo {
  communityId: string;
  residents: { id: string; deviceId: string }[];
  accounts: { login: string; role: string; password: string }[];
}

interface Api {
  url: string;
  adminToken: string;
}

async function call<T>(api: Api, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${api.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${api.adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

/**
 * First start of `yulan up` with simulated fall sensors: one demo community with a
 * resident per fall sensor, a family member linked to all of them and a community worker
 * on duty, so the care page (/care/) has something real to show. Passwords are random,
 * printed once and stored only as hashes; a marker file keeps later starts from doing it
 * again. Both people are reached on the care page (SSE) only: real deployments add
 * webhook or email channels (docs/care.md §4).
 */
export async function seedCareDemo(api: Api, fallSensorIds: string[], markerFile: string, logger: Logger): Promise<CareDemo | undefined> {
  if (existsSync(markerFile) || fallSensorIds.length === 0) return undefined;
  const communityId = 'demo-community';
  const accounts = [
    { login: 'family', role: 'family', name: '李明 (family)', password: generateSecret(12) },
    { login: 'worker', role: 'worker', name: '王芳 (community worker)', password: generateSecret(12) },
  ];
  const existing = await call<{ items: { id: string }[] }>(api, 'GET', '/api/v1/communities').catch(() => ({ items: [] }));
  if (!existing.items.some((c) => c.id === communityId)) {
    await call(api, 'POST', '/api/v1/communities', { id: communityId, name: '示范社区 Demo community' });
  }
  const ids: Record<string, string> = {};
  for (const a of accounts) {
    const r = await call<{ person: { id: string } }>(api, 'POST', '/api/v1/people', {
      login: a.login, name: a.name, role: a.role, locale: 'zh-CN', password: a.password, channels: [{ type: 'app', address: '' }],
    });
    ids[a.login] = r.person.id;
  }
  await call(api, 'PUT', `/api/v1/people/${ids.worker}/assignments`, { assignments: [{ communityId, onDuty: true }] });
  const residents: CareDemo['residents'] = [];
  for (const [i, deviceId] of fallSensorIds.entries()) {
    const id = `demo-resident-${i + 1}`;
    await call(api, 'POST', '/api/v1/residents', {
      id, name: `居民 Resident ${i + 1}`, communityId, address: `Demo Road ${i + 1}`,
      routine: { wakeBy: '10:00', quietHours: { from: '22:00', to: '07:00' }, inactivityHours: 24 },
    });
    await call(api, 'PUT', `/api/v1/residents/${id}/devices`, { deviceIds: [deviceId] });
    await call(api, 'PUT', `/api/v1/residents/${id}/family`, { contacts: [{ userId: ids.family, relation: 'child' }] });
    residents.push({ id, deviceId });
  }
  mkdirSync(dirname(markerFile), { recursive: true });
  writeFileSync(markerFile, JSON.stringify({ createdAt: new Date().toISOString(), communityId, residents, logins: accounts.map((a) => a.login) }, null, 2), { mode: 0o600 });
  logger.info({ residents: residents.length }, 'care demo created');
  return { communityId, residents, accounts: accounts.map(({ login, role, password }) => ({ login, role, password })) };
}
