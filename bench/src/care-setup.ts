import type { Stack } from './stack.js';

async function call<T>(stack: Stack, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${stack.cloudUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${stack.adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

/**
 * One community, one resident per device, and one family member linked to all of them
 * whose only channel is a webhook at `webhookUrl`. Returns the webhook secret the cloud
 * issued (shown once), for the receiver to verify signatures.
 */
export async function setupCare(stack: Stack, deviceIds: string[], webhookUrl: string): Promise<string> {
  await call(stack, 'POST', '/api/v1/communities', { id: 'bench-community', name: 'Bench community' });
  const fam = await call<{ person: { id: string }; webhookSecrets: { address: string; secret: string }[] }>(stack, 'POST', '/api/v1/people', {
    id: 'bench-family', login: 'bench-family', name: 'Bench family member', role: 'family', locale: 'en',
    channels: [{ type: 'webhook', address: webhookUrl }],
  });
  const secret = fam.webhookSecrets[0]?.secret;
  if (!secret) throw new Error('the cloud issued no webhook secret');
  const todo = deviceIds.map((id, i) => ({ id, rid: `bench-r${String(i).padStart(5, '0')}` }));
  const lanes = Array.from({ length: 8 }, async () => {
    for (let d = todo.shift(); d; d = todo.shift()) {
      await call(stack, 'POST', '/api/v1/residents', { id: d.rid, name: `Resident ${d.rid}`, communityId: 'bench-community' });
      await call(stack, 'PUT', `/api/v1/residents/${d.rid}/devices`, { deviceIds: [d.id] });
      await call(stack, 'PUT', `/api/v1/residents/${d.rid}/family`, { contacts: [{ userId: fam.person.id, relation: 'child' }] });
    }
  });
  await Promise.all(lanes);
  return secret;
}
