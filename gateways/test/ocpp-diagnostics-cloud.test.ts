import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOcppGatewayConfig, startOcppGateway, type OcppGatewayHandle } from '../src/index.js';
import { logger, proxyTo, RawChargePoint, startPlatform, waitFor, type Platform } from './harness.js';

/** GetDiagnostics files reach the cloud: the gateway hands each upload over (gateway token,
 * chargers only), keeps and retries it while the cloud is away (across a restart), and
 * operators list and download it through the cloud API (docs/ocpp.md §4.2). */
let p: Platform;
let gw: OcppGatewayHandle;
let cp: RawChargePoint;
let proxy: Awaited<ReturnType<typeof proxyTo>>;
let gwEnv: Record<string, string>;
let secret: string;
type Cmd = { id: string };
type File = { id: string; deviceId: string; fileName: string; bytes: number; sha256: string; contentType: string; commandId: string; uploadedAt: string; receivedAt: string };
type GwFile = { file: string; sha256: string; cloud?: { state: string; status?: number; code?: string; id?: string } };
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  // the cloud's limit below the gateway's, so a file the gateway took can be refused at the cloud
  p = await startPlatform({ YULAN_OCPP_DIAG_MAX_BYTES: '4096', YULAN_DIAGNOSTICS_MAX_BYTES: '1000' });
  proxy = await proxyTo(Number(p.env.YULAN_HTTP_PORT));
  gwEnv = { ...p.env, YULAN_CLOUD_URL: `http://127.0.0.1:${proxy.port}` };
  gw = await startOcppGateway(loadOcppGatewayConfig(gwEnv), logger);
  secret = await p.addCharger('CP-DC');
  await connectCharger();
});

async function connectCharger(): Promise<void> {
  cp = await RawChargePoint.connect(gw.url, 'CP-DC', secret);
  await cp.call('BootNotification', { chargePointVendor: 'Acme', chargePointModel: 'AC22' });
  await waitFor(async () => (await p.api<{ status: string }>('/api/v1/devices/CP-DC')).body.status === 'online', 'online');
}
afterAll(async () => {
  cp?.close();
  await gw?.close();
  proxy?.close();
  await p?.close();
});

const gwHttp = (): string => gw.url.replace(/^ws/, 'http').replace(/\/ocpp$/, '');
const gwAuth = (): Record<string, string> => ({ authorization: `Bearer ${p.env.YULAN_GATEWAY_TOKEN}` });
const gwFiles = async (): Promise<GwFile[]> => ((await (await fetch(`${gwHttp()}/api/v1/ocpp/diagnostics?device=CP-DC`, { headers: gwAuth() })).json()) as { items: GwFile[] }).items;
type GwHandover = { delivered: number; refused: number; failures: number; pending: number; prunedRefused: number; reoffered: number };
const gwHandover = async (): Promise<GwHandover> =>
  ((await (await fetch(`${gwHttp()}/metrics`, { headers: gwAuth() })).json()) as { diagnosticsHandover: GwHandover }).diagnosticsHandover;
const cloudFiles = async (): Promise<File[]> => (await p.api<{ items: File[] }>('/api/v1/devices/CP-DC/diagnostics')).body.items;
const cloudCounts = async (): Promise<Record<string, number>> => (await p.api<{ ocpp_diagnostics: Record<string, number> }>('/api/v1/metrics')).body.ocpp_diagnostics;

/** GetDiagnostics through the cloud, then the charger uploads `body` to the offered URL. */
async function uploadDiagnostics(body: Buffer<ArrayBuffer>, fileName: string): Promise<string> {
  cp.answers.GetDiagnostics = () => ({ fileName });
  const before = cp.calls.length;
  const r = await p.api<Cmd>('/api/v1/devices/CP-DC/commands', { method: 'POST', json: { name: 'charger.get_diagnostics', args: {} } });
  expect(r.status).toBe(201);
  const call = await waitFor(() => cp.calls.slice(before).find((f) => f[2] === 'GetDiagnostics'), 'GetDiagnostics call');
  const up = await fetch(String((call[3] as { location: string }).location), { method: 'PUT', body, headers: { 'content-type': 'application/gzip' } });
  expect(up.status).toBe(201);
  return r.body.id;
}

/** The gateway's own hand-over, repeated by hand: what a gateway does after a lost answer. */
const handOver = (q: Record<string, string>, body: Buffer<ArrayBuffer>, token = p.env.YULAN_GATEWAY_TOKEN!): Promise<Response> =>
  fetch(`${p.cloudUrl}/api/v1/internal/ocpp/diagnostics?${new URLSearchParams(q)}`, {
    method: 'POST', body, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
  });

describe('diagnostics in the cloud', () => {
  let first: File;
  const body = Buffer.from('\x1f\x8b boot log line 1\nboot log line 2\n\x00\xff');

  it('an upload is handed to the cloud; listed there and downloaded with the same bytes, type, name and ETag = sha256', async () => {
    const cmd = await uploadDiagnostics(body, 'cp logs.tar.gz');
    first = await waitFor(async () => (await cloudFiles()).find((f) => f.commandId === cmd), 'file in the cloud');
    expect(first).toMatchObject({ deviceId: 'CP-DC', bytes: body.length, sha256: sha(body), contentType: 'application/gzip', fileName: expect.stringMatching(/-cp_logs\.tar\.gz$/) });
    const dl = await fetch(`${p.cloudUrl}/api/v1/devices/CP-DC/diagnostics/${first.id}`, { headers: { authorization: `Bearer ${p.adminToken}` } });
    expect(dl.status).toBe(200);
    expect(dl.headers.get('content-type')).toBe('application/gzip');
    expect(dl.headers.get('content-disposition')).toContain(`attachment; filename="${first.fileName}"`);
    expect(dl.headers.get('etag')).toBe(`"${sha(body)}"`);
    expect(dl.headers.get('x-content-type-options')).toBe('nosniff');
    const got = Buffer.from(await dl.arrayBuffer());
    expect(got.equals(body)).toBe(true);
    expect(sha(got)).toBe(first.sha256);
    const again = await fetch(`${p.cloudUrl}/api/v1/devices/CP-DC/diagnostics/${first.id}`, { headers: { authorization: `Bearer ${p.adminToken}`, 'if-none-match': `"${sha(body)}"` } });
    expect(again.status).toBe(304);
    // the gateway marks its copy delivered with the cloud's id
    const local = await waitFor(async () => (await gwFiles()).find((f) => f.sha256 === sha(body) && f.cloud?.state === 'delivered'), 'marked delivered');
    expect(local.cloud?.id).toBe(first.id);
    // the charger's events say the cloud has it (the console's card re-reads on this)
    type Events = { events: { type: string; attributes: Record<string, string> }[] };
    const stored = await waitFor(async () => (await p.api<Events>('/api/v1/devices/CP-DC/events')).body.events.find((e) => e.type === 'diagnostics.stored'), 'stored event');
    expect(stored.attributes).toMatchObject({ file_id: first.id, sha256: first.sha256 });
    // the download is audited, and so is every listing (the polls above)
    const audit = (await p.api<{ items: { action: string; actor: string; detail: string | null }[] }>('/api/v1/audit?limit=50')).body.items;
    expect(audit.filter((a) => a.action === 'device.diagnostics.download')).toEqual([expect.objectContaining({ actor: 'admin-token', detail: expect.stringContaining(first.id) })]);
    expect(audit.filter((a) => a.action === 'device.diagnostics.list')).toContainEqual(expect.objectContaining({ actor: 'admin-token', detail: 'CP-DC (1 listed)' }));
    // the listing and downloads are staff routes: the gateway token is not enough, nor nothing
    for (const headers of [gwAuth(), {}]) {
      expect((await fetch(`${p.cloudUrl}/api/v1/devices/CP-DC/diagnostics`, { headers })).status).toBe(401);
      expect((await fetch(`${p.cloudUrl}/api/v1/devices/CP-DC/diagnostics/${first.id}`, { headers })).status).toBe(401);
    }
    expect((await p.api(`/api/v1/devices/CP-DC/diagnostics/00000000-0000-0000-0000-000000000000`)).status).toBe(404);
    expect((await p.api('/api/v1/devices/NOPE/diagnostics')).status).toBe(404);
  });

  it('the same file handed over again is stored once; a damaged body is refused', async () => {
    const q = { device: 'CP-DC', command: first.commandId, file: first.fileName, contentType: first.contentType, sha256: first.sha256, uploadedAt: first.uploadedAt };
    const r = await handOver(q, body);
    expect(r.status).toBe(200);
    expect(((await r.json()) as File).id).toBe(first.id);
    expect((await cloudFiles()).filter((f) => f.sha256 === first.sha256)).toHaveLength(1);
    const damaged = await handOver({ ...q, command: 'other' }, Buffer.concat([body, Buffer.from('x')]));
    expect(damaged.status).toBe(400);
    expect((await cloudFiles()).filter((f) => f.commandId === 'other')).toEqual([]);
  });

  it('refuses a wrong bearer, the admin token, a device that is not a charger and an unknown device', async () => {
    const reg = await p.api('/api/v1/devices', { method: 'POST', json: { id: 'LK-DC', site: 'xuhui', kind: 'parcel-locker' } });
    expect(reg.status).toBe(201);
    const b = Buffer.from('x');
    const q = (device: string): Record<string, string> => ({ device, command: 'c1', file: 'x.log', contentType: 'text/plain', sha256: sha(b), uploadedAt: new Date().toISOString() });
    expect((await handOver(q('CP-DC'), b, 'wrong-token-0123456789-0123456789-xyz')).status).toBe(401);
    expect((await handOver(q('CP-DC'), b, p.adminToken)).status).toBe(401);
    const locker = await handOver(q('LK-DC'), b);
    expect(locker.status).toBe(403);
    expect(((await locker.json()) as { code: string }).code).toBe('E_FORBIDDEN');
    expect((await handOver(q('NOPE-1'), b)).status).toBe(404);
    expect((await p.api<{ items: File[] }>('/api/v1/devices/LK-DC/diagnostics')).body.items).toEqual([]);
    const m = (await p.api<{ ocpp_diagnostics: Record<string, number> }>('/api/v1/metrics')).body.ocpp_diagnostics;
    expect(m).toMatchObject({ refusedNotCharger: 1, refusedUnknownDevice: 1 });
  });

  it('a file over the cloud\'s limit is refused there (413); the gateway keeps it, marked refused, and does not retry', async () => {
    const big = Buffer.alloc(2000, 0x41);
    expect((await handOver({ device: 'CP-DC', command: 'c-big', file: 'big.log', contentType: 'text/plain', sha256: sha(big), uploadedAt: new Date().toISOString() }, big)).status).toBe(413);
    await uploadDiagnostics(big, 'big.log');
    const local = await waitFor(async () => (await gwFiles()).find((f) => f.sha256 === sha(big) && f.cloud), 'settled at the gateway');
    expect(local.cloud).toMatchObject({ state: 'refused', status: 413 });
    // counted on the gateway's /metrics; kept there for keepDays (7 by default), so not pruned yet
    expect(await gwHandover()).toMatchObject({ pending: 0, refused: 1, prunedRefused: 0 });
    expect((await cloudFiles()).filter((f) => f.sha256 === sha(big))).toEqual([]);
    // both refusals counted: the one by hand and the gateway's
    expect((await p.api<{ ocpp_diagnostics: Record<string, number> }>('/api/v1/metrics')).body.ocpp_diagnostics.refusedTooLarge).toBe(2);
  });

  it('with the cloud away the gateway keeps the file and delivers it once the cloud is back, across a gateway restart', async () => {
    proxy.cut();
    const late = Buffer.from('uploaded while the cloud was away\n');
    const cmd = await uploadDiagnostics(late, 'late.log');
    await waitFor(async () => (await gwHandover()).failures >= 1 || undefined, 'a failed hand-over');
    expect((await gwHandover()).pending).toBe(1);
    expect((await cloudFiles()).filter((f) => f.commandId === cmd)).toEqual([]);

    // restart while the cloud is still away: the new process finds the file owed on disk
    cp.close();
    await gw.close();
    gw = await startOcppGateway(loadOcppGatewayConfig(gwEnv), logger);
    await waitFor(async () => (await gwHandover()).failures >= 1 || undefined, 'the restarted gateway tried too');
    expect((await gwHandover()).pending).toBe(1);

    await proxy.restore();
    const f = await waitFor(async () => (await cloudFiles()).find((x) => x.commandId === cmd), 'delivered after the cloud is back');
    expect(f).toMatchObject({ sha256: sha(late), bytes: late.length });
    const dl = await p.api(`/api/v1/devices/CP-DC/diagnostics/${f.id}`);
    expect(dl.status).toBe(200);
    expect((await gwHandover())).toMatchObject({ pending: 0, delivered: 1 });
    // every earlier file stays stored once
    expect((await cloudFiles()).filter((x) => x.sha256 === first.sha256)).toHaveLength(1);
  });

  it('a charger disabled after its upload: the cloud refuses the file (E_DEVICE_DISABLED, counted), the gateway settles it as refused; enabled and back, the file is delivered', async () => {
    // the previous test restarted the gateway with the charger away
    await connectCharger();
    const before = await gwHandover();
    proxy.cut();
    const held = Buffer.from('uploaded before the charger was disabled\n');
    const cmd = await uploadDiagnostics(held, 'held.log');
    await waitFor(async () => (await gwHandover()).failures > before.failures || undefined, 'a failed hand-over');
    expect((await p.api('/api/v1/devices/CP-DC/disable', { method: 'POST' })).status).toBe(200);
    await waitFor(() => cp.closed, 'charger cut off');

    await proxy.restore();
    const local = await waitFor(async () => (await gwFiles()).find((f) => f.sha256 === sha(held) && f.cloud), 'settled at the gateway');
    expect(local.cloud).toMatchObject({ state: 'refused', status: 403, code: 'E_DEVICE_DISABLED' });
    // final: not pending, not retried; counted on both sides
    expect(await gwHandover()).toMatchObject({ pending: 0, refused: before.refused + 1 });
    expect((await cloudCounts()).refusedDisabled).toBe(1);
    // the same hand-over again: the same answer, counted again, nothing stored
    const q = { device: 'CP-DC', command: cmd, file: local.file, contentType: 'application/gzip', sha256: sha(held), uploadedAt: new Date().toISOString() };
    const again = await handOver(q, held);
    expect(again.status).toBe(403);
    expect(((await again.json()) as { code: string }).code).toBe('E_DEVICE_DISABLED');
    expect((await cloudCounts()).refusedDisabled).toBe(2);
    expect((await cloudFiles()).filter((f) => f.commandId === cmd)).toEqual([]);
    // while disabled the charger cannot come back
    await expect(RawChargePoint.connect(gw.url, 'CP-DC', secret)).rejects.toMatchObject({ status: 401 });

    // enabled again: the charger connects and boots, and the gateway offers the held file again
    expect((await p.api('/api/v1/devices/CP-DC/enable', { method: 'POST' })).status).toBe(200);
    await connectCharger();
    const f = await waitFor(async () => (await cloudFiles()).find((x) => x.commandId === cmd), 'delivered after the re-enable');
    expect(f).toMatchObject({ sha256: sha(held), bytes: held.length });
    const settled = await waitFor(async () => (await gwFiles()).find((x) => x.sha256 === sha(held) && x.cloud?.state === 'delivered'), 'marked delivered');
    expect(settled.cloud?.id).toBe(f.id);
    expect(await gwHandover()).toMatchObject({ pending: 0, reoffered: 1, delivered: before.delivered + 1 });
    // the file over the cloud's limit was refused for another reason: not offered again
    expect((await gwFiles()).filter((x) => x.cloud?.state === 'refused')).toEqual([expect.objectContaining({ cloud: expect.objectContaining({ status: 413 }) })]);
  });
});
