import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOcppGatewayConfig, startOcppGateway, type OcppGatewayHandle } from '../src/index.js';
import { logger, RawChargePoint, startPlatform, waitFor, type Platform } from './harness.js';

/** GetDiagnostics: the charger (raw OCPP-J frames) uploads to the one-time URL the gateway
 * offered; the file is stored, size-limited, listed, and confirms the command. */
let p: Platform;
let gw: OcppGatewayHandle;
let cp: RawChargePoint;
let http = '';
type Cmd = { id: string; status: string; message: string | null };
type Events = { events: { type: string; attributes: Record<string, string> }[] };

beforeAll(async () => {
  p = await startPlatform({ YULAN_OCPP_DIAG_MAX_BYTES: '4096' });
  gw = await startOcppGateway(loadOcppGatewayConfig(p.env), logger);
  http = gw.url.replace(/^ws/, 'http').replace(/\/ocpp$/, '');
  cp = await RawChargePoint.connect(gw.url, 'CP-DIAG', await p.addCharger('CP-DIAG'));
  await cp.call('BootNotification', { chargePointVendor: 'Acme', chargePointModel: 'AC22' });
  await waitFor(async () => (await p.api<{ status: string }>('/api/v1/devices/CP-DIAG')).body.status === 'online', 'online');
});
afterAll(async () => {
  cp?.close();
  await gw?.close();
  await p?.close();
});

const settle = (id: string): Promise<Cmd> => waitFor(async () => {
  const c = (await p.api<Cmd>(`/api/v1/commands/${id}`)).body;
  return ['succeeded', 'failed', 'timed_out', 'expired', 'refused'].includes(c.status) ? c : undefined;
}, `command ${id} settled`, 60_000);

async function getDiagnostics(): Promise<{ cmd: string; location: string; call: Record<string, unknown> }> {
  const before = cp.calls.length;
  const r = await p.api<Cmd>('/api/v1/devices/CP-DIAG/commands', { method: 'POST', json: { name: 'charger.get_diagnostics', args: { start_time: '2026-01-01T00:00:00Z' } } });
  expect(r.status).toBe(201);
  const call = await waitFor(() => cp.calls.slice(before).find((f) => f[2] === 'GetDiagnostics'), 'GetDiagnostics call');
  const payload = call[3] as Record<string, unknown>;
  return { cmd: r.body.id, location: String(payload.location), call: payload };
}

describe('GetDiagnostics', () => {
  it('the charger uploads to the offered URL; stored, listed, downloadable, and the command succeeds', async () => {
    cp.answers.GetDiagnostics = () => ({ fileName: 'cp-diag logs.tar.gz' });
    const { cmd, location, call } = await getDiagnostics();
    expect(call).toMatchObject({ startTime: '2026-01-01T00:00:00Z', retries: 1 });
    expect(location.startsWith(`${http}/ocpp-diagnostics/`)).toBe(true);
    await cp.call('DiagnosticsStatusNotification', { status: 'Uploading' });
    const body = Buffer.from('boot log line 1\nboot log line 2\n');
    const up = await fetch(location, { method: 'PUT', body, headers: { 'content-type': 'application/gzip' } });
    expect(up.status).toBe(201);
    // one-time: the same URL does not take a second file
    expect((await fetch(location, { method: 'PUT', body })).status).toBe(404);
    await cp.call('DiagnosticsStatusNotification', { status: 'Uploaded' });
    expect(await settle(cmd)).toMatchObject({ status: 'succeeded' });

    const ev = await waitFor(async () => (await p.api<Events>('/api/v1/devices/CP-DIAG/events')).body.events.find((e) => e.type === 'diagnostics.uploaded'), 'uploaded event');
    expect(ev.attributes).toMatchObject({ bytes: String(body.length), sha256: createHash('sha256').update(body).digest('hex'), command_id: cmd });

    const auth = { authorization: `Bearer ${p.env.YULAN_GATEWAY_TOKEN}` };
    expect((await fetch(`${http}/api/v1/ocpp/diagnostics`)).status).toBe(401);
    const list = (await (await fetch(`${http}/api/v1/ocpp/diagnostics?device=CP-DIAG`, { headers: auth })).json()) as { items: { file: string; contentType: string }[] };
    expect(list.items).toHaveLength(1);
    expect(list.items[0]!.file).toMatch(/-cp-diag_logs\.tar\.gz$/);
    expect(list.items[0]!.contentType).toBe('application/gzip');
    const dl = await fetch(`${http}/api/v1/ocpp/diagnostics/CP-DIAG/${list.items[0]!.file}`, { headers: auth });
    expect(Buffer.from(await dl.arrayBuffer()).equals(body)).toBe(true);
  });

  it('an oversized upload is refused and nothing is kept; a later upload to the same URL still works', async () => {
    cp.answers.GetDiagnostics = () => ({ fileName: 'big.log' });
    const { cmd, location } = await getDiagnostics();
    const big = await fetch(location, { method: 'POST', body: Buffer.alloc(5000, 1) });
    expect(big.status).toBe(413);
    expect(readdirSync(join(p.dir, 'gateway-ocpp', 'diagnostics', 'CP-DIAG')).filter((f) => f.endsWith('.part'))).toEqual([]);
    const small = await fetch(location, { method: 'POST', body: Buffer.from('ok') });
    expect(small.status).toBe(201);
    expect(await settle(cmd)).toMatchObject({ status: 'succeeded' });
    const list = (await (await fetch(`${http}/api/v1/ocpp/diagnostics?device=CP-DIAG`, { headers: { authorization: `Bearer ${p.env.YULAN_GATEWAY_TOKEN}` } })).json()) as { items: { bytes: number }[] };
    expect(list.items.map((i) => i.bytes).sort((a, b) => a - b)).toEqual([2, 'boot log line 1\nboot log line 2\n'.length]);
  });

  it('no file name in the answer rejects the command; UploadFailed fails it; unknown upload URLs get 404', async () => {
    cp.answers.GetDiagnostics = () => ({});
    const none = await getDiagnostics();
    const refused = await settle(none.cmd);
    expect(refused.status).toBe('failed');
    expect(refused.message).toContain('the charger has no diagnostics');
    expect((await fetch(none.location, { method: 'PUT', body: 'x' })).status).toBe(404);

    cp.answers.GetDiagnostics = () => ({ fileName: 'x.log' });
    const failing = await getDiagnostics();
    await cp.call('DiagnosticsStatusNotification', { status: 'UploadFailed' });
    const c = await settle(failing.cmd);
    expect(c.status).toBe('failed');
    expect(c.message).toContain('UploadFailed');
    expect((await fetch(`${http}/ocpp-diagnostics/${'A'.repeat(43)}`, { method: 'PUT', body: 'x' })).status).toBe(404);
  });
});
