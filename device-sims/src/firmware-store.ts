import { mkdirSync, readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SimError, SimErrorCode } from './errors.js';
import type { FirmwareUpdateContext, FirmwareUpdateHook } from './sim-device-options.js';

const FILE = 'firmware.json';

/**
 * The simulated devices' flash: which firmware each one runs, in `<dataDir>/firmware.json`,
 * so a restarted simulator boots its devices on what they installed (as real devices do)
 * instead of the version it was started with. Writes are coalesced (a stage of thousands
 * of devices installing at once is one write, not thousands) and atomic (temp + rename).
 */
export class FirmwareStore {
  private readonly versions: Record<string, string>;
  private writing: Promise<void> = Promise.resolve();
  private due: NodeJS.Timeout | undefined;

  private constructor(private readonly dir: string, versions: Record<string, string>) {
    this.versions = versions;
  }

  static open(dir: string): FirmwareStore {
    const path = join(dir, FILE);
    let text: string | undefined;
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      text = readFileSync(path, 'utf8');
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code !== 'ENOENT') throw new SimError(SimErrorCode.BadOptions, `cannot read ${path}: ${(cause as Error).message}`, { cause });
    }
    if (text === undefined) return new FirmwareStore(dir, {});
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (cause) {
      throw new SimError(SimErrorCode.BadOptions, `${path} is not valid JSON`, { cause });
    }
    const versions = (parsed as { versions?: unknown } | null)?.versions;
    if (typeof versions !== 'object' || versions === null || Object.values(versions).some((v) => typeof v !== 'string')) {
      throw new SimError(SimErrorCode.BadOptions, `${path}: expected {"versions": {"<device id>": "<version>"}}`);
    }
    return new FirmwareStore(dir, { ...(versions as Record<string, string>) });
  }

  get(deviceId: string): string | undefined {
    return this.versions[deviceId];
  }

  set(deviceId: string, version: string): void {
    this.versions[deviceId] = version;
    this.due ??= setTimeout(() => {
      this.due = undefined;
      void this.flush();
    }, 100);
  }

  /** Writes what is pending now (also on close). */
  flush(): Promise<void> {
    if (this.due) clearTimeout(this.due);
    this.due = undefined;
    const body = `${JSON.stringify({ versions: this.versions })}\n`;
    const path = join(this.dir, FILE);
    const tmp = `${path}.${process.pid}.tmp`;
    this.writing = this.writing.then(async () => {
      await writeFile(tmp, body, { mode: 0o600 });
      await rename(tmp, path);
    }).catch(() => undefined);
    return this.writing;
  }

  /** Wraps a firmware hook so every version the device switches to is remembered. */
  persisting(deviceId: string, hook: FirmwareUpdateHook): FirmwareUpdateHook {
    return (cmd, ctx) => {
      const store = this;
      const wrapped: FirmwareUpdateContext = {
        result: (status, message, output) => ctx.result(status, message, output),
        publishEvent: (ev) => ctx.publishEvent(ev),
        reboot: (downMs) => ctx.reboot(downMs),
        setFirmwareVersion(version) {
          ctx.setFirmwareVersion(version);
          store.set(deviceId, version);
        },
        get firmwareVersion() {
          return ctx.firmwareVersion;
        },
      };
      hook(cmd, wrapped);
    };
  }
}
