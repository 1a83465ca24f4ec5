import { isValidId } from '@yulan/protos';
import { SimError, SimErrorCode } from './errors.js';
import type { OcppFleetOptions } from './ocpp-fleet.js';
import { OCPP_FIRMWARE_FAULTS, type OcppFirmwareFault } from './ocpp-firmware.js';

export const ocppSimUsage = `Usage: yulan sim --kind ev-charger --protocol ocpp [options]

Runs simulated chargers speaking OCPP 1.6J to the OCPP gateway (docs/ocpp.md), driven by
the same charger model as the MQTT simulator.

  --count N            chargers (default 1), ids ocpp-{site}-0001 …
  --rate R             MeterValues per second per charger while charging (default 1)
  --sites a            site of the chargers (default site-1)
  --ocpp URL           gateway endpoint (default $YULAN_OCPP_URL or ws://127.0.0.1:8085/ocpp)
  --cloud URL --token T  register the chargers (or $YULAN_CLOUD_URL / $YULAN_ADMIN_TOKEN)
  --credentials FILE   keeps issued secrets (AuthorizationKeys) across restarts
  --data-dir DIR       keeps installed firmware versions (DIR/firmware.json) across restarts
  --firmware-fault F   UpdateFirmware fails at "download" (DownloadFailed) or "install" (InstallationFailed)
  --seed N             random seed (default 1)`;

/** True when the arguments ask for OCPP chargers rather than the MQTT fleet. */
export function wantsOcpp(args: readonly string[]): boolean {
  const i = args.indexOf('--protocol');
  return i >= 0 && args[i + 1] === 'ocpp';
}

export function parseOcppSimArgs(args: readonly string[], env: Record<string, string | undefined>): OcppFleetOptions {
  const fail = (m: string): never => { throw new SimError(SimErrorCode.BadArgs, `${m}\n\n${ocppSimUsage}`); };
  const v: Record<string, string> = {};
  for (let i = 0; i < args.length; i += 2) {
    const flag = args[i]!;
    const value = args[i + 1];
    if (!flag.startsWith('--') || value === undefined) fail(`unexpected argument "${flag}"`);
    v[flag.slice(2)] = value!;
  }
  for (const k of Object.keys(v)) {
    if (!['kind', 'protocol', 'count', 'rate', 'sites', 'ocpp', 'cloud', 'token', 'credentials', 'seed', 'data-dir', 'firmware-fault'].includes(k)) fail(`unknown option --${k}`);
  }
  if ((v.kind ?? 'ev-charger') !== 'ev-charger') fail('--protocol ocpp is for --kind ev-charger only');
  const count = Number(v.count ?? 1);
  const rate = Number(v.rate ?? 1);
  const fault = v['firmware-fault'];
  if (fault !== undefined && !OCPP_FIRMWARE_FAULTS.includes(fault as OcppFirmwareFault)) fail(`--firmware-fault expects ${OCPP_FIRMWARE_FAULTS.join(' or ')}`);
  if (!Number.isInteger(count) || count < 1) fail('--count expects a positive integer');
  if (!(rate > 0)) fail('--rate expects a positive number');
  const site = (v.sites ?? 'site-1').split(',')[0]!.trim();
  if (!isValidId(site)) fail(`invalid site "${site}"`);
  const gatewayUrl = v.ocpp ?? env.YULAN_OCPP_URL ?? 'ws://127.0.0.1:8085/ocpp';
  if (!/^wss?:\/\/\S+$/.test(gatewayUrl)) fail('--ocpp expects a ws:// or wss:// URL');
  const cloudUrl = v.cloud ?? env.YULAN_CLOUD_URL;
  const token = v.token ?? env.YULAN_ADMIN_TOKEN;
  return {
    gatewayUrl: gatewayUrl.replace(/\/+$/, ''), site, count, rate, seed: Number(v.seed ?? 1),
    ...(cloudUrl && token ? { cloud: { url: cloudUrl, adminToken: token } } : {}),
    ...(v.credentials ? { credentialsFile: v.credentials } : {}),
    ...(v['data-dir'] ? { dataDir: v['data-dir'] } : {}),
    ...(fault ? { firmwareFault: fault as OcppFirmwareFault } : {}),
  };
}
