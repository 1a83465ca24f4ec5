import { readFileSync } from 'node:fs';
import { CommandStatus } from '@yulan/protos';
import { SimError, SimErrorCode } from './errors.js';
import { handleFirmwareUpdate, type FirmwareContext } from './firmware/index.js';
import type { FirmwareUpdateHook } from './sim-device.js';

export interface FirmwareHookOptions extends Pick<FirmwareContext, 'trustedKeys' | 'bootFailureRate' | 'random' | 'chunkBytes' | 'maxRetries' | 'retryDelayMs'> {
  fetch?: FirmwareContext['fetch'];
  /** How long the reboot into the new image keeps the device offline, ms (default 1500). */
  rebootDownMs?: number;
}

/**
 * Plugs src/firmware/ (download, verify, install, roll back) into SimDevice's
 * `onFirmwareUpdate`: ACCEPTED at once, then SUCCEEDED or FAILED with the module's reason.
 * A successful install reboots into the new version, so the birth presence reports it.
 */
export function firmwareUpdateHook(opts: FirmwareHookOptions): FirmwareUpdateHook {
  return (cmd, dev) => {
    dev.result(CommandStatus.ACCEPTED, 'downloading');
    const ctx: FirmwareContext = {
      ...opts,
      publishEvent: (ev) => dev.publishEvent(ev),
      fetch: opts.fetch ?? ((url, init) => fetch(url, init)),
      currentVersion: () => dev.firmwareVersion,
      setVersion: (version) => {
        dev.setFirmwareVersion(version);
        dev.reboot(opts.rebootDownMs ?? 1500);
      },
    };
    handleFirmwareUpdate(cmd, ctx).then(
      (out) => dev.result(out.ok ? CommandStatus.SUCCEEDED : CommandStatus.FAILED, out.ok ? `running ${out.version}` : out.reason ?? 'failed',
        { version: out.version }),
      (err: unknown) => dev.result(CommandStatus.FAILED, `firmware update crashed: ${(err as Error).message}`),
    );
  };
}

/**
 * The trusted firmware keys a device ships with, from the same file format the cloud reads
 * (`YULAN_FIRMWARE_KEYS`: `[{id, publicKeyPem}]`). Real devices bake these in at the factory.
 */
export function loadTrustedKeys(file: string): Record<string, string> {
  let list: unknown;
  try {
    list = JSON.parse(readFileSync(file, 'utf8'));
  } catch (cause) {
    throw new SimError(SimErrorCode.BadOptions, `firmware keys file ${file}: ${(cause as Error).message}`, { cause });
  }
  if (!Array.isArray(list)) throw new SimError(SimErrorCode.BadOptions, `firmware keys file ${file}: expected [{id, publicKeyPem}]`);
  const keys: Record<string, string> = {};
  for (const k of list as { id?: unknown; publicKeyPem?: unknown }[]) {
    if (typeof k?.id !== 'string' || typeof k.publicKeyPem !== 'string') {
      throw new SimError(SimErrorCode.BadOptions, `firmware keys file ${file}: every entry needs a string id and publicKeyPem`);
    }
    keys[k.id] = k.publicKeyPem;
  }
  return keys;
}
