import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { DiagnosticsFile } from './diagnostics.js';

/** What became of a file at the cloud; written into its `.meta.json` sidecar. */
export interface CloudState {
  state: 'delivered' | 'refused';
  at: string;
  /** the cloud's file id (delivered) */
  id?: string;
  /** the cloud's answer (refused) */
  status?: number;
  /** the cloud's error code (refused), e.g. E_DEVICE_DISABLED */
  code?: string;
  reason?: string;
}

/** The cloud's code for a charger disabled after its upload: refused now, offered again once the charger is back. */
export const DEVICE_DISABLED = 'E_DEVICE_DISABLED';

/** `pruned`: delivered local copies deleted after keepDays; `prunedRefused`: refused files deleted after keepDays;
 * `reoffered`: files refused for a disabled charger queued again when it came back */
export interface HandoverStats { delivered: number; duplicates: number; refused: number; failures: number; pending: number; pruned: number; prunedRefused: number; reoffered: number }

export interface HandoverOptions {
  /** `<gateway data dir>/diagnostics` (diagnostics.ts layout) */
  dir: string;
  cloudUrl: string;
  token: string;
  fetch?: typeof fetch;
  logger: Logger;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** days a delivered local copy, or a refused file, is kept after the cloud's answer (0 = kept);
   * owed files are never pruned */
  keepDays?: number;
  now?: () => number;
  /** the cloud has it (first time, not a repeat): the gateway tells the charger's events */
  onDelivered?: (meta: DiagnosticsFile, cloudId: string) => void;
}

type Pending = { meta: DiagnosticsFile; metaPath: string };

// answers that will not change by asking again: the file stays here, marked refused
const FINAL = new Set([400, 403, 404, 413, 415]);

/** Final only when it is the cloud's own refusal (its error body names a code): a 403 or 413
 * from something in front of it (a proxy's body limit, a firewall) or a 404 for a route an
 * older cloud does not have yet may pass, so the file stays owed and is asked again. */
function cloudRefused(status: number, answer: { code?: unknown; message?: unknown }): boolean {
  if (!FINAL.has(status) || typeof answer.code !== 'string' || !/^(E|FST)_[A-Z0-9_]+$/.test(answer.code)) return false;
  return !(status === 404 && typeof answer.message === 'string' && answer.message.startsWith('no route '));
}

/**
 * Hands each stored diagnostics file to the cloud (`POST /api/v1/internal/ocpp/diagnostics`,
 * bearer = YULAN_GATEWAY_TOKEN; docs/ocpp.md §4.2). The queue is the files on disk: a
 * sidecar without a `cloud` state is still owed, so a restart picks up where it stopped.
 * While the cloud is unreachable (or answers 401/429/5xx) the head of the queue is retried
 * with exponential backoff and jitter; the cloud stores a repeat once (device + command +
 * sha256), so a hand-over whose answer was lost is simply sent again. A delivered local copy is
 * kept `keepDays`, then pruned; so is a refused file (it will never be delivered, and is kept
 * that long only for an operator to look at); an owed file is never pruned. One refusal is final
 * only until the charger is back: E_DEVICE_DISABLED (disabled after its upload), see reoffer.
 */
export class DiagnosticsHandover {
  readonly stats: HandoverStats = { delivered: 0, duplicates: 0, refused: 0, failures: 0, pending: 0, pruned: 0, prunedRefused: 0, reoffered: 0 };
  #pruneTimer: NodeJS.Timeout | undefined;
  readonly #o: HandoverOptions;
  readonly #queue: Pending[] = [];
  #running: Promise<void> | undefined;
  #closed = false;
  readonly #abort = new AbortController();
  #backoffMs: number;
  #sleep: { timer: NodeJS.Timeout; wake: () => void } | undefined;

  constructor(o: HandoverOptions) {
    this.#o = o;
    this.#backoffMs = o.minBackoffMs ?? 1000;
  }

  /** Queues every file not yet delivered or refused (oldest first) and starts sending;
   * prunes delivered and refused files now and hourly. */
  start(): void {
    const found = this.#sidecars().filter((p) => !p.meta.cloud);
    found.sort((a, b) => a.meta.at.localeCompare(b.meta.at));
    for (const p of found) this.#push(p);
    if ((this.#o.keepDays ?? 0) > 0) {
      this.prune();
      this.#pruneTimer = setInterval(() => this.prune(), 3_600_000);
      this.#pruneTimer.unref();
    }
  }

  /** every charger's sidecars, or one charger's */
  #sidecars(device?: string): (Pending & { meta: { cloud?: CloudState } })[] {
    const out: (Pending & { meta: { cloud?: CloudState } })[] = [];
    if (!existsSync(this.#o.dir)) return out;
    for (const d of device === undefined ? readdirSync(this.#o.dir) : [device]) {
      let files: string[];
      try { files = readdirSync(join(this.#o.dir, d)); } catch { continue; }
      for (const f of files) {
        if (!f.endsWith('.meta.json')) continue;
        const metaPath = join(this.#o.dir, d, f);
        try {
          out.push({ meta: JSON.parse(readFileSync(metaPath, 'utf8')) as DiagnosticsFile & { cloud?: CloudState }, metaPath });
        } catch { /* a torn sidecar: listed by nobody, nothing to send */ }
      }
    }
    return out;
  }

  #now(): number {
    return (this.#o.now ?? Date.now)();
  }

  /**
   * Deletes files the cloud answered for good more than `keepDays` ago: delivered local copies
   * (the cloud has them) and refused files (never delivered: asking again gets the same answer).
   * Owed files stay whatever their age: they are data not yet delivered. A sidecar whose `at`
   * does not parse is kept (better a stale file than a lost one).
   */
  prune(): { delivered: number; refused: number } {
    const n = { delivered: 0, refused: 0 };
    const keepDays = this.#o.keepDays ?? 0;
    if (keepDays <= 0) return n;
    const cutoff = this.#now() - keepDays * 86_400_000;
    for (const p of this.#sidecars()) {
      const c = p.meta.cloud;
      // a state this version does not know is not ours to delete
      if ((c?.state !== 'delivered' && c?.state !== 'refused') || !(Date.parse(c.at) < cutoff)) continue;
      try {
        // the file first: a crash in between leaves a sidecar, pruned (force) next hour
        rmSync(join(this.#o.dir, p.meta.device, p.meta.file), { force: true });
        rmSync(p.metaPath, { force: true });
        n[c.state]++;
      } catch (err) {
        this.#o.logger.warn({ err, file: p.meta.file, state: c.state }, 'pruning a diagnostics file failed; next hour again');
      }
    }
    this.stats.pruned += n.delivered;
    this.stats.prunedRefused += n.refused;
    if (n.delivered > 0) this.#o.logger.info({ pruned: n.delivered, keepDays }, 'delivered diagnostics copies pruned');
    if (n.refused > 0) this.#o.logger.info({ prunedRefused: n.refused, keepDays }, 'diagnostics files the cloud refused pruned');
    return n;
  }

  /**
   * The charger is back (it booted here, so the cloud let it connect: enabled again). Its files
   * the cloud refused only because it was disabled (E_DEVICE_DISABLED) were uploaded while it was
   * enabled: they are queued again, oldest first, as long as they are still here (keepDays after
   * that refusal). Every other refusal stays final. Returns the number queued.
   */
  reoffer(device: string): number {
    const found = this.#sidecars(device).filter((p) => p.meta.cloud?.state === 'refused' && p.meta.cloud.code === DEVICE_DISABLED);
    found.sort((a, b) => a.meta.at.localeCompare(b.meta.at));
    for (const p of found) this.#push(p);
    this.stats.reoffered += found.length;
    if (found.length > 0) this.#o.logger.info({ deviceId: device, reoffered: found.length }, 'diagnostics refused while the charger was disabled offered again');
    return found.length;
  }

  /** A file just stored (diagnostics.ts onUploaded). */
  enqueue(meta: DiagnosticsFile): void {
    this.#push({ meta, metaPath: join(this.#o.dir, meta.device, `${meta.file}.meta.json`) });
  }

  #push(p: Pending): void {
    if (this.#closed || this.#queue.some((q) => q.metaPath === p.metaPath)) return;
    this.#queue.push(p);
    this.stats.pending = this.#queue.length;
    this.#running ??= this.#drain().finally(() => { this.#running = undefined; });
  }

  async #drain(): Promise<void> {
    while (!this.#closed && this.#queue.length > 0) {
      const head = this.#queue[0]!;
      const done = await this.#send(head);
      if (done) {
        this.#queue.shift();
        this.stats.pending = this.#queue.length;
        this.#backoffMs = this.#o.minBackoffMs ?? 1000;
        continue;
      }
      this.stats.failures++;
      const wait = Math.round(this.#backoffMs * (0.5 + Math.random() / 2));
      this.#backoffMs = Math.min(this.#backoffMs * 2, this.#o.maxBackoffMs ?? 60_000);
      await new Promise<void>((wake) => { this.#sleep = { timer: setTimeout(wake, wait), wake }; });
      this.#sleep = undefined;
    }
  }

  /** true: settled (delivered or refused for good); false: try again later */
  async #send(p: Pending): Promise<boolean> {
    const { meta } = p;
    let body: Buffer<ArrayBuffer>;
    try {
      body = readFileSync(join(this.#o.dir, meta.device, meta.file));
    } catch (err) {
      this.#o.logger.error({ err, deviceId: meta.device, file: meta.file }, 'diagnostics file missing; not handed to the cloud');
      this.#mark(p, { state: 'refused', at: new Date(this.#now()).toISOString(), reason: 'file missing at the gateway' });
      this.stats.refused++;
      return true;
    }
    const q = new URLSearchParams({ device: meta.device, command: meta.commandId, file: meta.file, contentType: meta.contentType, sha256: meta.sha256, uploadedAt: meta.at });
    let res: Response;
    try {
      res = await (this.#o.fetch ?? fetch)(`${this.#o.cloudUrl}/api/v1/internal/ocpp/diagnostics?${q}`, {
        method: 'POST', body, headers: { authorization: `Bearer ${this.#o.token}`, 'content-type': 'application/octet-stream' },
        signal: AbortSignal.any([AbortSignal.timeout(60_000), this.#abort.signal]),
      });
    } catch (err) {
      this.#o.logger.warn({ err: (err as Error).message, deviceId: meta.device, file: meta.file }, 'cloud unreachable; diagnostics kept, retrying');
      return false;
    }
    const answer = (await res.json().catch(() => ({}))) as { id?: string; message?: string; code?: string };
    if (res.status === 200 || res.status === 201) {
      this.#mark(p, { state: 'delivered', at: new Date(this.#now()).toISOString(), ...(answer.id ? { id: answer.id } : {}) });
      if (res.status === 201) this.stats.delivered++;
      else this.stats.duplicates++;
      if (res.status === 201 && answer.id) this.#o.onDelivered?.(meta, answer.id);
      this.#o.logger.info({ deviceId: meta.device, file: meta.file, id: answer.id }, 'diagnostics handed to the cloud');
      return true;
    }
    if (cloudRefused(res.status, answer)) {
      // `at` starts the refused file's keepDays (prune)
      this.#mark(p, { state: 'refused', at: new Date(this.#now()).toISOString(), status: res.status, ...(answer.code ? { code: answer.code } : {}), reason: answer.message ?? `HTTP ${res.status}` });
      this.stats.refused++;
      this.#o.logger.error({ deviceId: meta.device, file: meta.file, status: res.status, code: answer.code, reason: answer.message, keepDays: this.#o.keepDays ?? 0 },
        answer.code === DEVICE_DISABLED ? 'cloud refused diagnostics: the charger is disabled; kept at the gateway, offered again if it comes back' : 'cloud refused diagnostics; kept at the gateway only');
      return true;
    }
    const level = res.status === 401 || FINAL.has(res.status) ? 'error' : 'warn';
    this.#o.logger[level]({ deviceId: meta.device, file: meta.file, status: res.status, code: answer.code }, res.status === 401
      ? 'cloud refused the gateway token (YULAN_GATEWAY_TOKEN differs?); diagnostics kept, retrying'
      : FINAL.has(res.status) ? 'refused, but not in the cloud\'s words (a proxy in front of it, or a cloud without the route?); diagnostics kept, retrying'
        : 'cloud busy or failing; diagnostics kept, retrying');
    return false;
  }

  #mark(p: Pending, cloud: CloudState): void {
    // sidecar replaced atomically: a crash leaves the old one (sent again, stored once) or the new one
    const tmp = `${p.metaPath}.tmp`;
    writeFileSync(tmp, JSON.stringify({ ...p.meta, cloud }), { mode: 0o600 });
    renameSync(tmp, p.metaPath);
  }

  /** Resolves once the queue is empty (tests, shutdown diagnostics). */
  idle(): Promise<void> {
    return this.#running ?? Promise.resolve();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#pruneTimer);
    this.#abort.abort();
    if (this.#sleep) { clearTimeout(this.#sleep.timer); this.#sleep.wake(); }
    await this.#running;
  }
}
