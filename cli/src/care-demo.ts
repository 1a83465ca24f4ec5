import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { generateSecret } from '@yulan/protos';
import type { DemoPager } from './demo-pager.js';

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

type Channels = { type: string; address: string; rotateSecret?: boolean }[];
interface Issued { person: { id: string }; webhookSecrets?: { address: string; secret: string }[] }

const DEMO_PEOPLE = [
  { login: 'family', role: 'family', name: '李明 (family)' },
  { login: 'worker', role: 'worker', name: '王芳 (community worker)' },
  { login: 'callcentre', role: 'callcentre', name: '张伟 (call centre)' },
  // signs in to the operator console at / (issue 15)
  { login: 'operator', role: 'operator', name: '陈静 (operator)' },
] as const;

/** The care page first (when open), then the demo pager: every demo person is reachable
 * without an open page, so an alert never ends with nobody (docs/care.md §3). */
function channelsFor(login: string, pager: DemoPager | undefined): Channels {
  if (!pager) return [{ type: 'app', address: '' }];
  const address = pager.addressFor(login);
  return [{ type: 'app', address: '' }, { type: 'webhook', address, ...(pager.hasSecret(address) ? {} : { rotateSecret: true }) }];
}

function remember(pager: DemoPager | undefined, r: Issued): void {
  for (const s of r.webhookSecrets ?? []) pager?.setSecret(s.address, s.secret);
}

/**
 * First start of `yulan up` with simulated fall sensors: one demo community with a
 * resident per fall sensor, a family member linked to all of them, a community worker on
 * duty and a call-centre person, so the care page (/care/) has something real to show and
 * the ladder can run to its end. Passwords are random, printed once and stored only as
 * hashes; a marker file keeps later starts from doing it again. Everyone is reached on the
 * care page (SSE) when it is open, else on the demo pager (a webhook `yulan up` serves).
 */
export async function seedCareDemo(api: Api, fallSensorIds: string[], markerFile: string, logger: Logger, pager?: DemoPager): Promise<CareDemo | undefined> {
  if (existsSync(markerFile) || fallSensorIds.length === 0) return undefined;
  const communityId = 'demo-community';
  const accounts = DEMO_PEOPLE.map((p) => ({ ...p, password: generateSecret(12) }));
  const existing = await call<{ items: { id: string }[] }>(api, 'GET', '/api/v1/communities').catch(() => ({ items: [] }));
  if (!existing.items.some((c) => c.id === communityId)) {
    await call(api, 'POST', '/api/v1/communities', { id: communityId, name: '示范社区 Demo community' });
  }
  const ids: Record<string, string> = {};
  for (const a of accounts) {
    const r = await call<Issued>(api, 'POST', '/api/v1/people', {
      login: a.login, name: a.name, role: a.role, locale: 'zh-CN', password: a.password, channels: channelsFor(a.login, pager),
    });
    remember(pager, r);
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

/**
 * Later starts, before the fleet runs: point the demo people's pager channel at this
 * start's pager (its port may differ), and add what older demos lacked (the call-centre
 * person). Returns the new accounts, if any, for printing once.
 */
export async function upgradeCareDemo(api: Api, markerFile: string, logger: Logger, pager: DemoPager | undefined): Promise<CareDemo | undefined> {
  if (!pager || !existsSync(markerFile)) return undefined;
  const marker = JSON.parse(readFileSync(markerFile, 'utf8')) as { communityId: string; residents: CareDemo['residents']; logins: string[] };
  const people = await call<{ items: { id: string; login: string }[] }>(api, 'GET', '/api/v1/people?limit=500');
  const added: CareDemo['accounts'] = [];
  for (const p of DEMO_PEOPLE) {
    const found = people.items.find((x) => x.login === p.login);
    if (found) {
      remember(pager, await call<Issued>(api, 'PATCH', `/api/v1/people/${found.id}`, { channels: channelsFor(p.login, pager) }));
    } else if (!marker.logins.includes(p.login)) {
      const password = generateSecret(12);
      remember(pager, await call<Issued>(api, 'POST', '/api/v1/people', {
        login: p.login, name: p.name, role: p.role, locale: 'zh-CN', password, channels: channelsFor(p.login, pager),
      }));
      added.push({ login: p.login, role: p.role, password });
      marker.logins.push(p.login);
    }
  }
  if (added.length === 0) return undefined;
  writeFileSync(markerFile, JSON.stringify(marker, null, 2), { mode: 0o600 });
  logger.info({ added: added.map((a) => a.login) }, 'care demo upgraded');
  return { communityId: marker.communityId, residents: marker.residents, accounts: added };
}
