import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { Severity, type Command } from '@yulan/protos';
import type { SimEvent } from '../models/types.js';

/**
 * Device side of a firmware update (docs/control.md §2): download over HTTP with Range,
 * resuming after an interruption, verify SHA-256 and the Ed25519 signature again (never
 * trust the transport or the cloud), install, "reboot" into the new image — or roll back
 * when it does not boot. Transport-agnostic: the simulator's command dispatcher passes a
 * small context, so this is unit-tested without MQTT.
 */
export interface FirmwareContext {
  /** publishes one event on the device's …/event topic */
  publishEvent(ev: SimEvent): Promise<unknown>;
  /** HTTP GET (global fetch fits); called with a `range` header */
  fetch(url: string, init: { headers: Record<string, string>; signal?: AbortSignal }): Promise<Response>;
  currentVersion(): string;
  /** switches the running version and reboots into it (presence then reports it) */
  setVersion(version: string): Promise<void> | void;
  /** trusted signing keys by id (PEM or KeyObject) */
  trustedKeys: Readonly<Record<string, string | KeyObject>>;
  /** probability that the new image fails to boot (default 0) */
  bootFailureRate?: number;
  /** uniform [0,1) source for the boot-failure draw (seeded in the simulators) */
  random?: () => number;
  /** bytes per Range request (default 256 KiB); progress is reported per chunk */
  chunkBytes?: number;
  /** consecutive failed requests before giving up (default 5) */
  maxRetries?: number;
  /** wait before retrying after an interruption (default 200 ms) */
  retryDelayMs?: number;
}

export interface FirmwareOutcome {
  ok: boolean;
  /** the version running afterwards */
  version: string;
  reason?: string;
  /** Range requests made, including retries */
  requests: number;
}

const ev = (type: string, severity: Severity, message: string, attributes: Record<string, string> = {}): SimEvent =>
  ({ type, severity, message, attributes });

/** Required args of `firmware.update` (all strings on the wire). */
const REQUIRED = ['version', 'url', 'token', 'sha256', 'signature', 'size', 'key_id'] as const;

export async function handleFirmwareUpdate(cmd: Pick<Command, 'args'>, ctx: FirmwareContext): Promise<FirmwareOutcome> {
  const from = ctx.currentVersion();
  let requests = 0;
  const failed = async (reason: string): Promise<FirmwareOutcome> => {
    await ctx.publishEvent(ev('firmware.failed', Severity.WARNING, `firmware update failed: ${reason}`, { reason, version: cmd.args.version ?? '' }));
    return { ok: false, version: from, reason, requests };
  };
  const missing = REQUIRED.filter((k) => !cmd.args[k]);
  if (missing.length > 0) return failed(`missing args: ${missing.join(', ')}`);
  const a = cmd.args as Record<(typeof REQUIRED)[number], string>;
  const size = Number(a.size);
  if (!Number.isSafeInteger(size) || size <= 0) return failed('bad size');
  if (a.version === from) return failed(`already running ${from}`);

  // Download, chunk by chunk, resuming from what arrived.
  const image = Buffer.alloc(size);
  let got = 0;
  let retries = 0;
  const chunk = ctx.chunkBytes ?? 256 * 1024;
  const url = new URL(a.url);
  url.searchParams.set('token', a.token);
  let lastPct = -1;
  while (got < size) {
    const end = Math.min(size, got + chunk) - 1;
    requests++;
    try {
      const res = await ctx.fetch(url.toString(), { headers: { range: `bytes=${got}-${end}` } });
      // 4xx other than 416 will not get better by retrying (expired token, unknown image).
      if (res.status >= 400 && res.status < 500) return failed(`download refused: HTTP ${res.status}`);
      if (res.status !== 206 && !(res.status === 200 && got === 0)) throw new Error(`HTTP ${res.status}`);
      // Streamed into the image as it arrives, so bytes received before a drop are kept
      // and the next request resumes exactly after them.
      const before = got;
      const reader = res.body?.getReader();
      for (;;) {
        const part = reader ? await reader.read() : { done: true as const, value: undefined };
        if (part.done) break;
        if (got + part.value.length > size) return failed(`server sent more than the declared ${size} bytes`);
        image.set(part.value, got);
        got += part.value.length;
      }
      if (got === before) throw new Error('empty range response');
      retries = 0;
    } catch (err) {
      // An interruption: keep what arrived, wait, resume from `got`.
      if (++retries > (ctx.maxRetries ?? 5)) return failed(`download interrupted: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, ctx.retryDelayMs ?? 200));
      continue;
    }
    const pct = Math.floor((got / size) * 100);
    if (pct !== lastPct) {
      lastPct = pct;
      await ctx.publishEvent(ev('firmware.downloading', Severity.INFO, `downloading ${a.version}: ${pct} %`, { pct: String(pct), version: a.version }));
    }
  }

  await ctx.publishEvent(ev('firmware.verifying', Severity.INFO, `verifying ${a.version}`, { version: a.version }));
  const digest = createHash('sha256').update(image).digest();
  if (digest.toString('hex') !== a.sha256.toLowerCase()) return failed('sha256 mismatch: the image is corrupt or tampered');
  const keyMaterial = ctx.trustedKeys[a.key_id];
  if (!keyMaterial) return failed(`untrusted signing key "${a.key_id}"`);
  let sigOk = false;
  try {
    const key = typeof keyMaterial === 'string' ? createPublicKey(keyMaterial) : keyMaterial;
    sigOk = verify(null, digest, key, Buffer.from(a.signature, 'base64'));
  } catch {
    sigOk = false;
  }
  if (!sigOk) return failed('signature does not verify: the image is tampered or signed with another key');

  await ctx.publishEvent(ev('firmware.installing', Severity.INFO, `installing ${a.version}`, { version: a.version }));
  // The new image boots, or the bootloader falls back to the old slot (A/B update).
  if ((ctx.random ?? Math.random)() < (ctx.bootFailureRate ?? 0)) {
    const reason = 'new image failed to boot';
    await ctx.setVersion(from);
    await ctx.publishEvent(ev('firmware.rolled_back', Severity.WARNING, `${a.version} failed to boot; back on ${from}`, { from: a.version, to: from, reason }));
    return { ok: false, version: from, reason, requests };
  }
  await ctx.setVersion(a.version);
  await ctx.publishEvent(ev('firmware.installed', Severity.INFO, `running ${a.version}`, { version: a.version, from }));
  return { ok: true, version: a.version, requests };
}
