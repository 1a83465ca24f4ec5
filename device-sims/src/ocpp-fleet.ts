import type { Logger } from 'pino';
import { FirmwareStore } from './firmware-store.js';
import { OcppSimCharger } from './ocpp-charger.js';
import type { OcppFirmwareFault } from './ocpp-firmware.js';
import { provisionDevices, type CloudOptions } from './provisioning.js';

export interface OcppFleetOptions {
  gatewayUrl: string;
  /** PEM CA(s) to trust for a wss:// gateway */
  ca?: string;
  cloud?: CloudOptions;
  credentialsFile?: string;
  site: string;
  count?: number;
  rate: number;
  seed?: number;
  /** installed firmware versions in <dataDir>/firmware.json (not the MQTT fleet's dir: one writer per file) */
  dataDir?: string;
  firmwareFault?: OcppFirmwareFault;
  /** reboot time after a reset or firmware install, ms (default 1000) */
  rebootMs?: number;
  /** see OcppSimChargerOptions.scripted */
  scripted?: boolean;
}

export interface OcppFleet {
  chargers: OcppSimCharger[];
  ids: string[];
  close(): Promise<void>;
}

/** Registers `count` ev-chargers (ids `ocpp-{site}-0001`…) and runs them as OCPP 1.6J
 * charge points against the gateway (`yulan sim --kind ev-charger --protocol ocpp`). */
export async function startOcppSimChargers(o: OcppFleetOptions, logger: Logger): Promise<OcppFleet> {
  const count = o.count ?? 1;
  const ids = Array.from({ length: count }, (_, i) => `ocpp-${o.site}-${String(i + 1).padStart(4, '0')}`);
  const secrets = await provisionDevices(ids.map((id) => ({ id, site: o.site, kind: 'ev-charger' })), {
    ...(o.cloud ? { cloud: o.cloud } : {}), ...(o.credentialsFile ? { credentialsFile: o.credentialsFile } : {}), firmwareVersion: '1.0.0',
  }, logger);
  const store = o.dataDir !== undefined ? FirmwareStore.open(o.dataDir) : undefined;
  const chargers = ids.map((id) => new OcppSimCharger({
    gatewayUrl: o.gatewayUrl, id, secret: secrets.get(id)!, rate: o.rate, seed: o.seed ?? 1, logger, ...(o.ca ? { ca: o.ca } : {}),
    ...(store ? { firmwareStore: store } : {}), ...(o.firmwareFault ? { firmwareFault: o.firmwareFault } : {}),
    ...(o.rebootMs !== undefined ? { rebootMs: o.rebootMs } : {}), ...(o.scripted ? { scripted: true } : {}),
  }));
  for (const c of chargers) c.start();
  return { chargers, ids, close: async () => { await Promise.all(chargers.map((c) => c.close())); await store?.flush(); } };
}
