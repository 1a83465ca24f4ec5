import { createHash } from 'node:crypto';

/** Where a simulated OCPP firmware update fails on purpose (`--firmware-fault`). */
export type OcppFirmwareFault = 'download' | 'install';
export const OCPP_FIRMWARE_FAULTS: readonly OcppFirmwareFault[] = ['download', 'install'];

export interface OcppFirmwareSteps {
  /** One FirmwareStatusNotification (awaits its CALLRESULT). */
  report(status: 'Downloading' | 'Downloaded' | 'Installing' | 'Installed' | 'DownloadFailed' | 'InstallationFailed'): Promise<void>;
  /** Writes the installed version to the simulator's flash before the reboot. */
  install(version: string): Promise<void>;
  /** Drops the socket; the charger boots again with the installed version. */
  reboot(): void;
  fault?: OcppFirmwareFault;
  fetch?: (url: string) => Promise<Response>;
}

/**
 * The version an UpdateFirmware location names. OCPP 1.6 UpdateFirmware carries only a URL:
 * the gateway adds `version=` to it (a real charger reads the version from the image itself
 * and ignores the parameter); without it the image's hash names it.
 */
export function versionFromLocation(location: string, sha256: string): string {
  try {
    const v = new URL(location).searchParams.get('version');
    if (v) return v;
  } catch { /* the caller already fetched it, so it parsed */ }
  return `sha-${sha256.slice(0, 12)}`;
}

/**
 * What a charge point does after accepting UpdateFirmware (OCPP 1.6 §6.52, §4.5): download
 * (Downloading → Downloaded or DownloadFailed), install (Installing → Installed or
 * InstallationFailed), then reboot into the new image, whose version its next
 * BootNotification reports. The image must match the ETag the platform serves (its SHA-256),
 * so a truncated or swapped download fails as a download failure.
 */
export async function playOcppFirmwareUpdate(location: string, s: OcppFirmwareSteps): Promise<{ ok: boolean; version?: string; reason?: string }> {
  await s.report('Downloading');
  let image: Buffer;
  let etag = '';
  try {
    if (s.fault === 'download') throw new Error('simulated download fault');
    const res = await (s.fetch ?? ((u: string) => fetch(u)))(location);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    image = Buffer.from(await res.arrayBuffer());
    etag = (res.headers.get('etag') ?? '').replace(/"/g, '');
  } catch (err) {
    await s.report('DownloadFailed');
    return { ok: false, reason: (err as Error).message };
  }
  const sha256 = createHash('sha256').update(image).digest('hex');
  if (etag && etag !== sha256) {
    await s.report('DownloadFailed');
    return { ok: false, reason: 'image does not match its ETag' };
  }
  await s.report('Downloaded');
  await s.report('Installing');
  if (s.fault === 'install') {
    await s.report('InstallationFailed');
    return { ok: false, reason: 'simulated installation fault' };
  }
  const version = versionFromLocation(location, sha256);
  await s.install(version);
  await s.report('Installed');
  s.reboot();
  return { ok: true, version };
}
