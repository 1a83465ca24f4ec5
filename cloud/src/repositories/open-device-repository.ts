import type { DbTarget } from '../db/target.js';
import type { DeviceRepository } from './device-repository.js';
import { PgDeviceRepository } from './pg-device-repository.js';
import { SqliteDeviceRepository } from './sqlite-device-repository.js';

/** The registry on the store target start.ts chose: its SQLite file, or the `registry` schema. */
export async function openDeviceRepository(target: DbTarget, opts: { now?: () => number } = {}): Promise<DeviceRepository> {
  if (target.kind === 'postgres') return PgDeviceRepository.open({ db: target.db, ...opts });
  return new SqliteDeviceRepository({ file: target.file, ...opts });
}
