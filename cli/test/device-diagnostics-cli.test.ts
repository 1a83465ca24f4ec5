import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlatform, type Platform } from '../../gateways/test/harness.js';
import { runInProcess } from './serial-support.js';
import { tempDir } from './support.js';

// `yulan device diagnostics`: a file handed to the cloud as an OCPP gateway does
// (gateway token, docs/ocpp.md §4.2) is listed and fetched byte for byte.
describe('yulan device diagnostics', () => {
  const tmp = tempDir('yulan-diag-cli-');
  let p: Platform;
  let env: NodeJS.ProcessEnv;
  const body = Buffer.from('charger log\nline 2\n');
  const sha = createHash('sha256').update(body).digest('hex');
  let fileId = '';

  beforeAll(async () => {
    p = await startPlatform();
    env = { YULAN_CLOUD_URL: p.cloudUrl, YULAN_ADMIN_TOKEN: p.adminToken };
    await p.addCharger('CP-CLI-D');
    const q = new URLSearchParams({ device: 'CP-CLI-D', command: 'cmd-1', file: '2026-06-01-logs.txt', contentType: 'text/plain', sha256: sha, uploadedAt: '2026-06-01T00:00:00.000Z' });
    const r = await fetch(`${p.cloudUrl}/api/v1/internal/ocpp/diagnostics?${q}`, {
      method: 'POST', body, headers: { authorization: `Bearer ${p.env.YULAN_GATEWAY_TOKEN}`, 'content-type': 'application/octet-stream' },
    });
    expect(r.status).toBe(201);
    fileId = ((await r.json()) as { id: string }).id;
  });
  afterAll(async () => {
    await p?.close();
    tmp.cleanup();
  });

  it('lists the files, as a table and as JSON', async () => {
    const t = await runInProcess(['device', 'diagnostics', 'CP-CLI-D'], env);
    expect(t.code).toBe(0);
    expect(t.stdout).toContain(fileId);
    expect(t.stdout).toContain('2026-06-01-logs.txt');
    const j = JSON.parse((await runInProcess(['device', 'diagnostics', 'CP-CLI-D', '--json'], env)).stdout) as { items: { id: string; sha256: string; bytes: number }[] };
    expect(j.items).toEqual([expect.objectContaining({ id: fileId, sha256: sha, bytes: body.length })]);
  });

  it('--get writes the same bytes to --out (owner-only) or to stdout', async () => {
    const out = join(tmp.dir, 'got.txt');
    const r = await runInProcess(['device', 'diagnostics', 'CP-CLI-D', '--get', fileId, '--out', out], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`sha256 ${sha}`);
    expect(readFileSync(out).equals(body)).toBe(true);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const s = await runInProcess(['device', 'diagnostics', 'CP-CLI-D', '--get', fileId, '--out', '-'], env);
    expect(s.stdout).toBe(body.toString());
  });

  it('says what is wrong: unknown file or device, --get without --out, no device id', async () => {
    const none = await runInProcess(['device', 'diagnostics', 'CP-CLI-D', '--get', '00000000-0000-0000-0000-000000000000', '--out', join(tmp.dir, 'x')], env);
    expect(none.code).toBe(4);
    expect(none.stderr).toContain('no diagnostics file');
    const dev = await runInProcess(['device', 'diagnostics', 'NOPE-9'], env);
    expect(dev.code).toBe(4);
    expect(dev.stderr).toContain('not registered');
    expect((await runInProcess(['device', 'diagnostics', 'CP-CLI-D', '--get', fileId], env)).code).toBe(2);
    expect((await runInProcess(['device', 'diagnostics'], env)).code).toBe(2);
    const empty = await runInProcess(['device', 'diagnostics', 'CP-CLI-D', '--limit', '0'], env);
    expect(empty.code).toBe(2);
  });
});
