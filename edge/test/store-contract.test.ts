import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { InfluxStore, SqliteStore } from '../src/index.js';
import { launchInfluxd, shouldSkipInflux } from '@yulan/testkit';
import { storeContract } from './support/store-contract.js';

storeContract('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'yulan-edge-sqlite-'));
  return { store: new SqliteStore(join(dir, 'telemetry.db')), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
});

storeContract('influxdb 1.x (real influxd)', async () => {
  const influxd = await launchInfluxd();
  await influxd.createDatabase('contract');
  const store = new InfluxStore({ url: influxd.url, api: 'v1', db: 'contract' }, pino({ level: 'silent' }));
  return { store, cleanup: () => influxd.dispose() };
}, shouldSkipInflux());
