import type { Logger } from 'pino';
import { SimError, SimErrorCode } from './errors.js';
import { loadCredentials, saveCredentials, type CredentialsFile } from './credentials.js';
import { mapLimit } from './gate.js';

export interface CloudOptions {
  url: string;
  adminToken: string;
}

export interface DeviceSpec {
  id: string;
  site: string;
  kind: string;
  /** Known secret (explicit device list); skips registration when there is no cloud. */
  secret?: string;
}

export interface ProvisionOptions {
  cloud?: CloudOptions;
  credentialsFile?: string;
  firmwareVersion: string;
  /** 'none': the devices take no firmware over the air (e.g. sensors behind a serial gateway) */
  firmwareUpdates?: 'ota' | 'none';
  concurrency?: number;
  requestTimeoutMs?: number;
}

/** Save progress every so often: a secret the cloud issued is shown only once. */
const SAVE_EVERY = 100;

/**
 * Resolves a secret for every device. With a cloud: POST /api/v1/devices for each device;
 * 201 → the new secret is kept (and written to the credentials file); 409 → the device exists,
 * so its secret must already be in the file (or the explicit list), else a clear error naming
 * it. Without a cloud: secrets come from the explicit list or the file.
 */
export async function provisionDevices(devices: readonly DeviceSpec[], opts: ProvisionOptions, logger: Logger): Promise<Map<string, string>> {
  const file: CredentialsFile = opts.credentialsFile ? await loadCredentials(opts.credentialsFile) : { version: 1, devices: {} };
  const secrets = new Map<string, string>();
  const known = (d: DeviceSpec): string | undefined => d.secret ?? file.devices[d.id]?.secret;

  if (!opts.cloud) {
    const missing = devices.filter((d) => !known(d));
    if (missing.length > 0) {
      const names = missing.slice(0, 5).map((d) => d.id).join(', ');
      throw new SimError(SimErrorCode.MissingSecret,
        `no secret for ${missing.length} device(s) (${names}${missing.length > 5 ? ', …' : ''}): register them with --cloud/--token or supply a credentials file`);
    }
    for (const d of devices) secrets.set(d.id, known(d) as string);
    return secrets;
  }

  const cloud = opts.cloud;
  const endpoint = `${cloud.url.replace(/\/+$/, '')}/api/v1/devices`;
  let unsaved = 0;
  const save = async (): Promise<void> => {
    if (opts.credentialsFile && unsaved > 0) {
      unsaved = 0;
      await saveCredentials(opts.credentialsFile, file);
    }
  };
  if (!opts.credentialsFile) logger.warn('no credentials file: issued device secrets live in memory only and are lost on exit');

  const register = async (d: DeviceSpec): Promise<void> => {
    let res: Response;
    try {
      res = await fetch(endpoint, {
        method: 'POST',
        headers: { authorization: `Bearer ${cloud.adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ id: d.id, site: d.site, kind: d.kind, firmwareVersion: opts.firmwareVersion, ...(opts.firmwareUpdates ? { firmwareUpdates: opts.firmwareUpdates } : {}) }),
        signal: AbortSignal.timeout(opts.requestTimeoutMs ?? 10_000),
      });
    } catch (cause) {
      throw new SimError(SimErrorCode.CloudUnreachable, `cloud at ${cloud.url} unreachable while registering ${d.id}`, { cause });
    }
    const body = await res.text();
    if (res.status === 201) {
      let secret: unknown;
      try {
        secret = (JSON.parse(body) as { secret?: unknown }).secret;
      } catch (cause) {
        throw new SimError(SimErrorCode.CloudRegister, `cloud answered 201 for ${d.id} with a non-JSON body`, { cause });
      }
      if (typeof secret !== 'string' || secret === '') {
        throw new SimError(SimErrorCode.CloudRegister, `cloud answered 201 for ${d.id} without a secret`);
      }
      secrets.set(d.id, secret);
      file.devices[d.id] = { site: d.site, kind: d.kind, secret };
      logger.info({ deviceId: d.id }, 'device registered');
      if (++unsaved >= SAVE_EVERY) await save();
      return;
    }
    if (res.status === 409) {
      const secret = known(d);
      if (!secret) {
        throw new SimError(SimErrorCode.MissingSecret,
          `device ${d.id} is already registered in the cloud but its secret is not in ${opts.credentialsFile ?? 'any credentials file'}; ` +
          'restore the credentials file, or delete/re-register the device in the cloud');
      }
      secrets.set(d.id, secret);
      return;
    }
    if (res.status === 401 || res.status === 403) {
      throw new SimError(SimErrorCode.CloudAuth, `cloud rejected the admin token (HTTP ${res.status}) while registering ${d.id}; check --token`);
    }
    throw new SimError(SimErrorCode.CloudRegister, `registering ${d.id} failed: HTTP ${res.status} ${body.slice(0, 200)}`);
  };

  try {
    await mapLimit(devices, opts.concurrency ?? 16, register);
  } finally {
    await save(); // keep every secret already issued, even when a later registration failed
  }
  return secrets;
}
