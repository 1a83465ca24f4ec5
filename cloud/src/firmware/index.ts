import { join } from 'node:path';
import type { Logger } from 'pino';
import type { DeviceRepository } from '../repositories/device-repository.js';
import { ImageStore, type FirmwareImages } from './images.js';
import { importImageFiles, PgImageStore } from './pg-image-store.js';
import { loadTrustedKeys, type TrustedKeys } from './keys.js';
import type { FirmwareMqtt } from './mqtt.js';
import type { DbTarget } from '../db/target.js';
import { openLease } from '../db/lease.js';
import { PgFirmwareRepository } from './pg-firmware-repository.js';
import type { FirmwareRepository } from './repository.js';
import { SqliteFirmwareRepository } from './sqlite-firmware-repository.js';
import { loadOrCreateTokenKey } from './token-key.js';
import { CampaignRunner } from './runner.js';

export { fromClient, fromTransport, type FirmwareMqtt } from './mqtt.js';
export { loadTrustedKeys, parseTrustedKeys, type TrustedKeys } from './keys.js';
export { default as firmwarePlugin } from './routes.js';
export * from './engine.js';

export interface OpenFirmwareOptions {
  /** the cloud data dir; the module uses `<dataDir>/firmware/` (the token key; images/ on SQLite) */
  dataDir: string;
  /** where metadata, campaigns and rollouts live: PostgreSQL, or by default `<dataDir>/firmware/firmware.sqlite` */
  db?: DbTarget;
  /** YULAN_FIRMWARE_KEYS; read and validated here (ConfigError on a bad file) */
  keysFile?: string;
  /** keys given directly (tests); wins over keysFile */
  keys?: TrustedKeys;
  devices: DeviceRepository;
  mqtt: FirmwareMqtt;
  /** base URL devices download from; a function when known only after listen */
  baseUrl: () => string;
  logger: Logger;
  now?: () => number;
  tickMs?: number;
}

export interface FirmwareModule {
  repo: FirmwareRepository;
  /** files under `<dataDir>/firmware/images/` (SQLite) or the database (PostgreSQL) */
  images: FirmwareImages;
  /** null: no YULAN_FIRMWARE_KEYS, uploads are refused */
  keys: TrustedKeys | null;
  tokenSecret: Buffer;
  devices: DeviceRepository;
  runner: CampaignRunner;
  now: () => number;
  /** resumes active campaigns (subscriptions, re-sends) and starts the planning timer */
  start(): Promise<void>;
  close(): Promise<void>;
}

/** Firmware images, signing keys, download tokens and staged campaigns (docs/control.md §2). */
/** The firmware repository on `target`. */
export function openFirmwareRepository(target: DbTarget): Promise<FirmwareRepository> {
  return target.kind === 'sqlite' ? Promise.resolve(new SqliteFirmwareRepository(target.file)) : PgFirmwareRepository.open(target.db);
}

export async function openFirmware(opts: OpenFirmwareOptions): Promise<FirmwareModule> {
  const keys = opts.keys ?? (opts.keysFile !== undefined ? loadTrustedKeys(opts.keysFile) : null);
  const dir = join(opts.dataDir, 'firmware');
  const target: DbTarget = opts.db ?? { kind: 'sqlite', file: join(dir, 'firmware.sqlite') };
  const repo = await openFirmwareRepository(target);
  // With PostgreSQL the bytes are in the database too: any cloud serves any image.
  const images = target.kind === 'postgres' ? await PgImageStore.open(target.db) : new ImageStore(join(dir, 'images'));
  if (images instanceof PgImageStore) await importImageFiles(images, join(dir, 'images'), opts.logger.child({ part: 'firmware' }));
  const now = opts.now ?? Date.now;
  const log = opts.logger.child({ part: 'firmware' });
  if (!keys) log.info('YULAN_FIRMWARE_KEYS not set: firmware uploads are refused until trusted keys are configured');
  const tokenSecret = await loadOrCreateTokenKey(dir, repo);
  // One cloud at a time runs the campaigns (always this one on SQLite).
  const lease = openLease(target, 'firmware-campaigns', { logger: log });
  const runner = new CampaignRunner({
    lease,
    repo, devices: opts.devices, mqtt: opts.mqtt, tokenSecret, baseUrl: opts.baseUrl, logger: log, now,
    ...(opts.tickMs !== undefined ? { tickMs: opts.tickMs } : {}),
  });
  let closed = false;
  return {
    repo, images, keys, tokenSecret, devices: opts.devices, runner, now,
    start: () => runner.start(),
    async close() {
      if (closed) return;
      closed = true;
      await runner.stop();
      await repo.close();
    },
  };
}
