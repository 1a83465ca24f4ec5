import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handleFirmwareUpdate, type FirmwareContext } from '../src/firmware/index.js';
import type { SimEvent } from '../src/models/types.js';

const keyPair = () => generateKeyPairSync('ed25519');
const trusted = keyPair();
const other = keyPair();
const PEM = trusted.publicKey.export({ type: 'spki', format: 'pem' }).toString();
const IMAGE = Buffer.from(Array.from({ length: 20_000 }, (_, i) => (i * 13) & 0xff));
const digest = (b: Buffer) => createHash('sha256').update(b).digest();

/** A Range-capable image server; `cut` destroys the connection in the middle of the next
 * response (a dropped link), `serve` replaces the bytes (a tampering mirror). */
let server: Server;
let base = '';
const state = { cut: 0, serve: IMAGE, status: 0, ranges: [] as string[] };
beforeAll(async () => {
  server = createServer((req, res) => {
    const body = state.serve;
    if (state.status) return void res.writeHead(state.status).end();
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    state.ranges.push(req.headers.range ?? '');
    const start = m ? Number(m[1]) : 0;
    const end = m && m[2] ? Math.min(Number(m[2]), body.length - 1) : body.length - 1;
    res.writeHead(m ? 206 : 200, { 'content-length': end - start + 1, ...(m ? { 'content-range': `bytes ${start}-${end}/${body.length}` } : {}) });
    if (state.cut > 0) {
      state.cut--;
      res.write(body.subarray(start, start + 10));
      return void setImmediate(() => res.socket?.destroy());
    }
    res.end(body.subarray(start, end + 1));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

function device(over: Partial<FirmwareContext> = {}) {
  const events: SimEvent[] = [];
  let version = '1.0.0';
  const ctx: FirmwareContext = {
    publishEvent: async (e) => void events.push(e),
    fetch: (u, init) => fetch(u, init),
    currentVersion: () => version,
    setVersion: (v) => void (version = v),
    trustedKeys: { release: PEM },
    chunkBytes: 4096,
    retryDelayMs: 1,
    ...over,
  };
  return { ctx, events, version: () => version, types: () => events.map((e) => e.type) };
}
const args = (over: Record<string, string> = {}) => ({
  args: {
    version: '2.0.0', url: `${base}/image?device=d1`, token: 't', sha256: digest(IMAGE).toString('hex'),
    signature: sign(null, digest(IMAGE), trusted.privateKey).toString('base64'), size: String(IMAGE.length), key_id: 'release', ...over,
  },
});
const reset = () => Object.assign(state, { cut: 0, serve: IMAGE, status: 0, ranges: [] });

describe('handleFirmwareUpdate', () => {
  it('downloads in ranges, verifies, installs and reports every step', async () => {
    reset();
    const d = device();
    const out = await handleFirmwareUpdate(args(), d.ctx);
    expect(out).toMatchObject({ ok: true, version: '2.0.0' });
    expect(d.version()).toBe('2.0.0');
    expect(d.types().filter((t) => t !== 'firmware.downloading')).toEqual(['firmware.verifying', 'firmware.installing', 'firmware.installed']);
    const pcts = d.events.filter((e) => e.type === 'firmware.downloading').map((e) => Number(e.attributes.pct));
    expect(pcts.at(-1)).toBe(100);
    expect(state.ranges[0]).toBe('bytes=0-4095');
  });

  it('resumes from the bytes it has after the connection drops mid-download', async () => {
    reset();
    state.cut = 2;
    const d = device();
    const out = await handleFirmwareUpdate(args(), d.ctx);
    expect(out.ok).toBe(true);
    // each cut delivered 10 bytes; the next request resumes right after them
    expect(state.ranges.slice(0, 3)).toEqual(['bytes=0-4095', 'bytes=10-4105', 'bytes=20-4115']);
    expect(out.requests).toBe(Math.ceil(IMAGE.length / 4096) + 2);
  });

  it('refuses a tampered image (sha256) and a wrong signature, and keeps the old version', async () => {
    reset();
    const tampered = Buffer.from(IMAGE);
    tampered[123] = (tampered[123] as number) ^ 0xff;
    state.serve = tampered;
    const d = device();
    expect((await handleFirmwareUpdate(args(), d.ctx)).reason).toMatch(/sha256 mismatch/);
    expect(d.types().at(-1)).toBe('firmware.failed');
    expect(d.version()).toBe('1.0.0');
    reset();
    const forged = sign(null, digest(IMAGE), other.privateKey).toString('base64');
    const d2 = device();
    expect((await handleFirmwareUpdate(args({ signature: forged }), d2.ctx)).reason).toMatch(/signature does not verify/);
    expect(d2.version()).toBe('1.0.0');
    const d3 = device();
    expect((await handleFirmwareUpdate(args({ key_id: 'unknown' }), d3.ctx)).reason).toMatch(/untrusted signing key/);
  });

  it('rolls back when the new image fails to boot and says so', async () => {
    reset();
    const d = device({ bootFailureRate: 1 });
    const out = await handleFirmwareUpdate(args(), d.ctx);
    expect(out).toMatchObject({ ok: false, version: '1.0.0', reason: 'new image failed to boot' });
    const rb = d.events.at(-1) as SimEvent;
    expect(rb.type).toBe('firmware.rolled_back');
    expect(rb.attributes).toMatchObject({ from: '2.0.0', to: '1.0.0', reason: 'new image failed to boot' });
    expect(d.version()).toBe('1.0.0');
  });

  it('fails cleanly on a refused download, missing args or a dead server', async () => {
    reset();
    state.status = 401;
    const d = device();
    expect((await handleFirmwareUpdate(args(), d.ctx)).reason).toMatch(/HTTP 401/);
    reset();
    expect((await handleFirmwareUpdate({ args: { version: '2.0.0' } }, device().ctx)).reason).toMatch(/missing args: url, token/);
    const dead = device({ fetch: async () => { throw new Error('ECONNREFUSED'); }, maxRetries: 2 });
    expect((await handleFirmwareUpdate(args(), dead.ctx)).reason).toMatch(/download interrupted: ECONNREFUSED/);
  });
});
