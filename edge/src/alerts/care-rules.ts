import type { Logger } from 'pino';
import { Type, type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { DEFAULT_CARE_SETTINGS, type DeviceCareSettings } from '../domain/alert-types.js';
import type { EdgeMetrics } from '../metrics.js';
import type { AlertStore } from './alert-store.js';
import { httpCall } from './http-client.js';

const HHMM = Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$' });

/** `GET /api/v1/internal/care-rules`; anything else is refused whole (previous rules kept). */
export const CareRulesSchema = Type.Object({
  timezone: Type.Optional(Type.String({ maxLength: 64 })),
  utcOffsetMin: Type.Integer({ minimum: -840, maximum: 840 }),
  devices: Type.Array(Type.Object({
    deviceId: Type.String({ minLength: 1, maxLength: 128 }),
    residentId: Type.Optional(Type.Union([Type.String({ maxLength: 128 }), Type.Null()])),
    heartbeatSec: Type.Integer({ minimum: 1, maximum: 86_400 }),
    routine: Type.Optional(Type.Union([Type.Null(), Type.Object({
      wakeBy: Type.Optional(Type.Union([HHMM, Type.Null()])),
      quietHours: Type.Optional(Type.Union([Type.Object({ from: HHMM, to: HHMM }), Type.Null()])),
      inactivityHours: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 24 * 30 })),
    })])),
  }), { maxItems: 100_000 }),
});
export type CareRulesBody = Static<typeof CareRulesSchema>;
/** Compiled once: the interpreted Value.Check of 1,000 devices blocked the event loop for
 * 160 ms (up to 0.8 s on a loaded machine) at every refresh, and an urgent event arriving
 * meanwhile waited for it (profile of the alert-latency bench). Compiled: ~3 ms. */
const careRulesCheck = Compile(CareRulesSchema);

/** The care rules the alert rules use: the cloud's, cached in alerts.db, or the defaults. */
export class CareRules {
  private devices = new Map<string, DeviceCareSettings>();
  private utcOffsetMin = DEFAULT_CARE_SETTINGS.utcOffsetMin;
  private fetchedAtMs: number | undefined;

  constructor(private readonly store: AlertStore) {
    const cached = store.loadCareRules();
    if (cached && careRulesCheck.Check(cached.body)) this.apply(cached.body, cached.fetchedAtMs);
  }

  private apply(body: CareRulesBody, fetchedAtMs: number): void {
    const devices = new Map<string, DeviceCareSettings>();
    for (const d of body.devices) {
      const r = d.routine ?? null;
      devices.set(d.deviceId, {
        heartbeatSec: d.heartbeatSec,
        utcOffsetMin: body.utcOffsetMin,
        routine: {
          wakeBy: r?.wakeBy ?? null,
          quietHours: r?.quietHours ?? null,
          inactivityHours: r?.inactivityHours ?? DEFAULT_CARE_SETTINGS.routine.inactivityHours,
        },
      });
    }
    this.devices = devices;
    this.utcOffsetMin = body.utcOffsetMin;
    this.fetchedAtMs = fetchedAtMs;
  }

  /** Validates and adopts a response; false (and nothing changed) if it is not valid. */
  accept(body: unknown, nowMs: number): boolean {
    if (!careRulesCheck.Check(body)) return false;
    this.store.saveCareRules(body, nowMs);
    this.apply(body, nowMs);
    return true;
  }

  settingsFor(deviceId: string): DeviceCareSettings {
    return this.devices.get(deviceId) ?? { ...DEFAULT_CARE_SETTINGS, utcOffsetMin: this.utcOffsetMin };
  }

  /** Listed by the cloud (so watched whatever its kind). */
  has(deviceId: string): boolean {
    return this.devices.has(deviceId);
  }

  /** -1 when the rules were never fetched. */
  ageMs(nowMs: number): number {
    return this.fetchedAtMs === undefined ? -1 : Math.max(0, nowMs - this.fetchedAtMs);
  }
}

export interface CareRulesClientOptions {
  cloudUrl: string;
  token: string;
  refreshMs: number;
  timeoutMs: number;
  now?: () => number;
  /** for an https:// cloud URL with a private CA */
  fetch?: typeof fetch;
}

/** Fetches the care rules at start and every `refreshMs`; a cloud that is down, slow or
 * answering garbage leaves the previous rules in force and is counted. */
export class CareRulesClient {
  private timer: NodeJS.Timeout | undefined;
  private inflight: Promise<void> | undefined;
  private readonly now: () => number;

  constructor(
    private readonly rules: CareRules, private readonly metrics: EdgeMetrics,
    private readonly logger: Logger, private readonly opts: CareRulesClientOptions,
  ) {
    this.now = opts.now ?? Date.now;
  }

  start(): void {
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.opts.refreshMs);
    this.timer.unref();
  }

  refresh(): Promise<void> {
    this.inflight ??= this.fetchOnce().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async fetchOnce(): Promise<void> {
    const url = `${this.opts.cloudUrl}/api/v1/internal/care-rules`;
    try {
      const res = await httpCall(url, {
        method: 'GET', headers: { authorization: `Bearer ${this.opts.token}`, accept: 'application/json' },
        timeoutMs: this.opts.timeoutMs, maxBytes: 8 * 1024 * 1024, ...(this.opts.fetch ? { fetch: this.opts.fetch } : {}),
      });
      if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
      let body: unknown;
      try {
        body = JSON.parse(res.text);
      } catch {
        throw new Error('response is not JSON');
      }
      if (!this.rules.accept(body, this.now())) throw new Error('response does not match the care-rules schema');
      this.metrics.careRulesFetches++;
    } catch (err) {
      this.metrics.careRulesErrors++;
      // Once a minute at most (the refresh period): worth a line each time.
      this.logger.warn({ err: (err as Error).message }, 'care rules refresh failed; keeping the previous rules');
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.inflight;
  }
}
