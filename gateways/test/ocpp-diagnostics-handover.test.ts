import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DiagnosticsHandover } from '../src/ocpp/diagnostics-handover.js';
import type { DiagnosticsFile } from '../src/ocpp/diagnostics.js';
import { logger, waitFor } from './harness.js';

/** The hand-over's decisions against a real HTTP server playing the cloud's answers:
 * what is retried (401, 5xx, a refusal not in the cloud's words), what is final (the cloud's 403, 413), what a restart picks up, what is pruned,
 * what is offered again (a file refused only because its charger was disabled). */
const dirs: string[] = [];
const servers: Server[] = [];
const handovers: DiagnosticsHandover[] = [];
afterEach(async () => {
  for (const h of handovers.splice(0)) await h.close();
  for (const s of servers.splice(0)) { s.closeAllConnections(); s.close(); }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

interface Seen { device: string; command: string; body: Buffer; auth: string | undefined }
/** answers[i] for the i-th request, the last one for every later request; [status, code] answers with the cloud's
 * error code (a bare status: a body without one, as a proxy in front of the cloud answers), [status, code, message] with its message too */
async function cloud(answers: (number | [number, string] | [number, string, string])[]): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const q = new URL(req.url ?? '/', 'http://x').searchParams;
      seen.push({ device: q.get('device')!, command: q.get('command')!, body: Buffer.concat(chunks), auth: req.headers.authorization });
      const a = answers[Math.min(seen.length - 1, answers.length - 1)]!;
      const [status, code, message] = typeof a === 'number' ? [a, undefined, undefined] : a;
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(status < 300 ? { id: `cloud-${seen.length}` } : { message: message ?? `answer ${status}`, ...(code ? { code } : {}) }));
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

function stored(dir: string, device: string, command: string, text: string, at: string): DiagnosticsFile {
  const body = Buffer.from(text);
  const file = `${at.replace(/[:.]/g, '-')}-x.log`;
  mkdirSync(join(dir, device), { recursive: true });
  writeFileSync(join(dir, device, file), body);
  const meta: DiagnosticsFile = { device, file, bytes: body.length, sha256: createHash('sha256').update(body).digest('hex'), contentType: 'text/plain', commandId: command, at };
  writeFileSync(join(dir, device, `${file}.meta.json`), JSON.stringify(meta));
  return meta;
}
const sidecar = (dir: string, m: DiagnosticsFile): { cloud?: { state: string; status?: number; code?: string; id?: string; at?: string } } =>
  JSON.parse(readFileSync(join(dir, m.device, `${m.file}.meta.json`), 'utf8')) as never;

function handover(dir: string, url: string, token = 'gw-token'): DiagnosticsHandover {
  const h = new DiagnosticsHandover({ dir, cloudUrl: url, token, logger, minBackoffMs: 20, maxBackoffMs: 100 });
  handovers.push(h);
  return h;
}

describe('diagnostics hand-over', () => {
  it('at start sends every owed file oldest first with the bearer, and none already delivered', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'yulan-handover-')); dirs.push(dir);
    const c = await cloud([201]);
    const newer = stored(dir, 'CP-1', 'c2', 'two', '2026-06-01T00:00:02.000Z');
    const older = stored(dir, 'CP-2', 'c1', 'one', '2026-06-01T00:00:01.000Z');
    const done = stored(dir, 'CP-1', 'c0', 'zero', '2026-06-01T00:00:00.000Z');
    writeFileSync(join(dir, 'CP-1', `${done.file}.meta.json`), JSON.stringify({ ...done, cloud: { state: 'delivered', at: 'x', id: 'old' } }));
    const h = handover(dir, c.url);
    h.start();
    await waitFor(() => (h.stats.delivered === 2 ? true : undefined), 'both delivered');
    expect(c.seen.map((s) => [s.device, s.command, s.body.toString(), s.auth])).toEqual([
      ['CP-2', 'c1', 'one', 'Bearer gw-token'], ['CP-1', 'c2', 'two', 'Bearer gw-token'],
    ]);
    expect(sidecar(dir, older).cloud).toMatchObject({ state: 'delivered', id: 'cloud-1' });
    expect(sidecar(dir, newer).cloud).toMatchObject({ state: 'delivered', id: 'cloud-2' });
    expect(h.stats).toMatchObject({ pending: 0, refused: 0 });
  });

  it('retries through 401 and 5xx (the file stays owed), then delivers; a 200 repeat counts as a duplicate', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'yulan-handover-')); dirs.push(dir);
    const c = await cloud([401, 503, 500, 200]);
    const m = stored(dir, 'CP-1', 'c1', 'log', '2026-06-01T00:00:00.000Z');
    const h = handover(dir, c.url);
    h.enqueue(m);
    await waitFor(() => (h.stats.pending === 0 ? true : undefined), 'settled');
    expect(h.stats).toMatchObject({ failures: 3, duplicates: 1, delivered: 0 });
    expect(c.seen).toHaveLength(4);
    expect(sidecar(dir, m).cloud?.state).toBe('delivered');
  });

  it('a final refusal (403, 413) is recorded and not retried; the next file still goes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'yulan-handover-')); dirs.push(dir);
    const c = await cloud([[403, 'E_FORBIDDEN'], [413, 'FST_ERR_CTP_BODY_TOO_LARGE'], 201]);
    const a = stored(dir, 'LK-1', 'c1', 'a', '2026-06-01T00:00:00.000Z');
    const b = stored(dir, 'CP-1', 'c2', 'b', '2026-06-01T00:00:01.000Z');
    const d = stored(dir, 'CP-1', 'c3', 'd', '2026-06-01T00:00:02.000Z');
    const h = handover(dir, c.url);
    h.start();
    await waitFor(() => (h.stats.pending === 0 ? true : undefined), 'settled');
    expect(sidecar(dir, a).cloud).toMatchObject({ state: 'refused', status: 403 });
    expect(sidecar(dir, b).cloud).toMatchObject({ state: 'refused', status: 413 });
    expect(sidecar(dir, d).cloud).toMatchObject({ state: 'delivered' });
    expect(h.stats).toMatchObject({ refused: 2, delivered: 1, failures: 0 });
    expect(c.seen).toHaveLength(3);
  });

  it('a 403 / 413 / 404 not in the cloud\'s words (a proxy in front of it, a cloud without the route) is retried: the file stays owed, then is delivered', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'yulan-handover-')); dirs.push(dir);
    const c = await cloud([413, 403, [404, 'E_NOT_FOUND', 'no route POST /api/v1/internal/ocpp/diagnostics'], 201]);
    const m = stored(dir, 'CP-1', 'c1', 'log', '2026-06-01T00:00:00.000Z');
    const h = handover(dir, c.url);
    h.enqueue(m);
    await waitFor(() => (h.stats.pending === 0 ? true : undefined), 'settled');
    expect(sidecar(dir, m).cloud).toMatchObject({ state: 'delivered', id: 'cloud-4' });
    expect(h.stats).toMatchObject({ failures: 3, refused: 0, delivered: 1 });
    expect(c.seen).toHaveLength(4);
  });

  it('a charger disabled after its upload (403 E_DEVICE_DISABLED): final, not sent again by a restart; offered again when the charger is back, and delivered', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'yulan-handover-')); dirs.push(dir);
    const c = await cloud([[403, 'E_DEVICE_DISABLED'], 201]);
    const held = stored(dir, 'CP-1', 'c1', 'before the disable', '2026-06-01T00:00:01.000Z');
    // refused earlier for another reason: stays refused whatever the charger does
    const big = stored(dir, 'CP-1', 'c0', 'too big', '2026-06-01T00:00:00.000Z');
    const bigState = { state: 'refused', at: '2026-06-01T00:00:05.000Z', status: 413, code: 'E_VALIDATION', reason: 'too big' };
    writeFileSync(join(dir, 'CP-1', `${big.file}.meta.json`), JSON.stringify({ ...big, cloud: bigState }));
    const h = handover(dir, c.url);
    h.start();
    await waitFor(() => (h.stats.refused === 1 ? true : undefined), 'refused');
    expect(sidecar(dir, held).cloud).toMatchObject({ state: 'refused', status: 403, code: 'E_DEVICE_DISABLED' });
    expect(h.stats).toMatchObject({ pending: 0, failures: 0 });
    // a restart does not send a refused file again
    const next = handover(dir, c.url);
    next.start();
    expect(next.stats.pending).toBe(0);
    // the charger is back (enabled again): only its file refused for the disable is offered again
    expect(h.reoffer('CP-2')).toBe(0);
    expect(h.reoffer('CP-1')).toBe(1);
    await waitFor(() => (h.stats.delivered === 1 ? true : undefined), 'delivered after the re-enable');
    expect(sidecar(dir, held).cloud).toMatchObject({ state: 'delivered', id: 'cloud-2' });
    expect(sidecar(dir, big).cloud).toEqual(bigState);
    expect(c.seen.map((x) => [x.command, x.body.toString()])).toEqual([['c1', 'before the disable'], ['c1', 'before the disable']]);
    expect(h.stats).toMatchObject({ reoffered: 1, pending: 0 });
    // nothing left to offer: a later boot sends nothing
    expect(h.reoffer('CP-1')).toBe(0);
  });

  it('a charger still disabled when its file is offered again: refused again, and pruned keepDays after that refusal', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'yulan-handover-')); dirs.push(dir);
    const c = await cloud([[403, 'E_DEVICE_DISABLED']]);
    const day = 86_400_000;
    const clock = { now: Date.UTC(2026, 5, 10) };
    const m = stored(dir, 'CP-1', 'c1', 'log', '2026-06-09T00:00:00.000Z');
    const h = new DiagnosticsHandover({ dir, cloudUrl: c.url, token: 't', logger, keepDays: 7, now: () => clock.now, minBackoffMs: 20 });
    handovers.push(h);
    h.start();
    await waitFor(() => (h.stats.refused === 1 ? true : undefined), 'refused');
    clock.now += 3 * day;
    expect(h.reoffer('CP-1')).toBe(1);
    await waitFor(() => (h.stats.refused === 2 ? true : undefined), 'refused again');
    expect(sidecar(dir, m).cloud).toMatchObject({ state: 'refused', code: 'E_DEVICE_DISABLED', at: new Date(clock.now).toISOString() });
    expect(h.stats).toMatchObject({ pending: 0, failures: 0 });
    clock.now += 7 * day + 1;
    expect(h.prune()).toEqual({ delivered: 0, refused: 1 });
    expect(existsSync(join(dir, 'CP-1', m.file))).toBe(false);
    expect(h.stats.prunedRefused).toBe(1);
    expect(h.reoffer('CP-1')).toBe(0);
    expect(c.seen).toHaveLength(2);
  });

  it('a cloud that is not there: kept and owed; a new process on the same disk delivers it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'yulan-handover-')); dirs.push(dir);
    const gone = await cloud([201]);
    const url = gone.url;
    servers.pop()!.close();
    const m = stored(dir, 'CP-1', 'c1', 'log', '2026-06-01T00:00:00.000Z');
    const first = handover(dir, url);
    first.start();
    await waitFor(() => (first.stats.failures >= 2 ? true : undefined), 'failed twice');
    await first.close();
    expect(sidecar(dir, m).cloud).toBeUndefined();
    const c = await cloud([201]);
    const second = handover(dir, c.url);
    second.start();
    await waitFor(() => (second.stats.delivered === 1 ? true : undefined), 'delivered by the next process');
    expect(c.seen[0]!.body.toString()).toBe('log');
  });

  it('prunes what the cloud answered for good more than keepDays ago, delivered and refused; owed and younger files stay', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'yulan-handover-')); dirs.push(dir);
    const c = await cloud([201]);
    const now = Date.UTC(2026, 5, 10);
    const day = 86_400_000;
    const mark = (m: DiagnosticsFile, cloudState: object): void => writeFileSync(join(dir, m.device, `${m.file}.meta.json`), JSON.stringify({ ...m, cloud: cloudState }));
    const old = stored(dir, 'CP-1', 'c1', 'old', '2026-06-01T00:00:00.000Z');
    mark(old, { state: 'delivered', at: new Date(now - 8 * day).toISOString(), id: 'x' });
    const recent = stored(dir, 'CP-1', 'c2', 'recent', '2026-06-01T00:00:01.000Z');
    mark(recent, { state: 'delivered', at: new Date(now - 6 * day).toISOString(), id: 'y' });
    const refusedOld = stored(dir, 'CP-1', 'c3', 'refused', '2026-06-01T00:00:02.000Z');
    mark(refusedOld, { state: 'refused', at: new Date(now - 30 * day).toISOString(), status: 413 });
    const refusedYoung = stored(dir, 'CP-1', 'c5', 'refused lately', '2026-06-01T00:00:04.000Z');
    mark(refusedYoung, { state: 'refused', at: new Date(now - 6 * day).toISOString(), status: 403 });
    const h = new DiagnosticsHandover({ dir, cloudUrl: c.url, token: 't', logger, keepDays: 7, now: () => now, minBackoffMs: 20 });
    handovers.push(h);
    // owed since well before keepDays: never pruned, it is data not yet delivered
    const owed = stored(dir, 'CP-1', 'c4', 'owed', '2026-06-01T00:00:03.000Z');
    h.start();
    expect(h.stats).toMatchObject({ pruned: 1, prunedRefused: 1 });
    for (const m of [old, refusedOld]) {
      expect(existsSync(join(dir, 'CP-1', m.file))).toBe(false);
      expect(existsSync(join(dir, 'CP-1', `${m.file}.meta.json`))).toBe(false);
    }
    for (const m of [recent, refusedYoung, owed]) expect(existsSync(join(dir, 'CP-1', m.file))).toBe(true);
    expect(sidecar(dir, refusedYoung).cloud).toMatchObject({ state: 'refused', status: 403 });
    await waitFor(() => (h.stats.delivered === 1 ? true : undefined), 'the owed one delivered');
    // just delivered: not pruned before its keepDays
    expect(h.prune()).toEqual({ delivered: 0, refused: 0 });
    expect(existsSync(join(dir, 'CP-1', owed.file))).toBe(true);
  });

  it('a refusal starts the refused file\'s keepDays: kept until they have passed, then pruned and counted; keepDays 0 keeps it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'yulan-handover-')); dirs.push(dir);
    const c = await cloud([[413, 'FST_ERR_CTP_BODY_TOO_LARGE']]);
    const day = 86_400_000;
    const clock = { now: Date.UTC(2026, 5, 10) };
    const refusedAt = clock.now;
    const m = stored(dir, 'CP-1', 'c1', 'too big', '2026-06-09T00:00:00.000Z');
    const h = new DiagnosticsHandover({ dir, cloudUrl: c.url, token: 't', logger, keepDays: 7, now: () => clock.now, minBackoffMs: 20 });
    handovers.push(h);
    h.start();
    await waitFor(() => (h.stats.refused === 1 ? true : undefined), 'refused');
    expect(sidecar(dir, m).cloud).toMatchObject({ state: 'refused', status: 413, at: new Date(refusedAt).toISOString() });
    clock.now = refusedAt + 7 * day;
    expect(h.prune()).toEqual({ delivered: 0, refused: 0 });
    expect(existsSync(join(dir, 'CP-1', m.file))).toBe(true);
    // a gateway set to keep (0) never prunes it, whatever its age
    const keeper = new DiagnosticsHandover({ dir, cloudUrl: c.url, token: 't', logger, keepDays: 0, now: () => refusedAt + 365 * day });
    handovers.push(keeper);
    expect(keeper.prune()).toEqual({ delivered: 0, refused: 0 });
    clock.now = refusedAt + 7 * day + 1;
    expect(h.prune()).toEqual({ delivered: 0, refused: 1 });
    expect(existsSync(join(dir, 'CP-1', m.file))).toBe(false);
    expect(existsSync(join(dir, 'CP-1', `${m.file}.meta.json`))).toBe(false);
    expect(h.stats).toMatchObject({ refused: 1, prunedRefused: 1, pruned: 0 });
    expect(c.seen).toHaveLength(1);
  });

  it('a sidecar whose file is gone is marked refused, not retried forever', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'yulan-handover-')); dirs.push(dir);
    const c = await cloud([201]);
    const m = stored(dir, 'CP-1', 'c1', 'log', '2026-06-01T00:00:00.000Z');
    rmSync(join(dir, 'CP-1', m.file));
    const h = handover(dir, c.url);
    h.start();
    await waitFor(() => (h.stats.refused === 1 ? true : undefined), 'refused');
    expect(sidecar(dir, m).cloud).toMatchObject({ state: 'refused', reason: 'file missing at the gateway' });
    expect(c.seen).toEqual([]);
  });
});
