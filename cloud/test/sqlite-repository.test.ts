import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteDeviceRepository } from '../src/repositories/sqlite-device-repository.js';
import { runDeviceRepositoryContract } from './device-repository.contract.js';

const dir = mkdtempSync(join(tmpdir(), 'yulan-cloud-repo-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

runDeviceRepositoryContract('sqlite (memory)', () => new SqliteDeviceRepository({ file: ':memory:' }));
let n = 0;
runDeviceRepositoryContract('sqlite (file)', () => new SqliteDeviceRepository({ file: join(dir, `r${n++}`, 'registry.sqlite') }));

describe('SqliteDeviceRepository specifics', () => {
  it('keeps data across reopen (migrations are idempotent)', async () => {
    const file = join(dir, 'persist', 'registry.sqlite');
    const a = new SqliteDeviceRepository({ file });
    await a.create({ id: 'keep', site: 's', kind: 'env-monitor', secretHash: 'h' });
    await a.close();
    const b = new SqliteDeviceRepository({ file });
    expect((await b.get('keep'))?.kind).toBe('env-monitor');
    await b.close();
  });

  it('reports ping false after close', async () => {
    const r = new SqliteDeviceRepository({ file: ':memory:' });
    await r.close();
    expect(await r.ping()).toBe(false);
  });
});
