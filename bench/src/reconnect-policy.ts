// How a simulated device waits between reconnect attempts. Pure: the load generator calls
// it, the reconnect-storm scenario compares policies side by side.

/** `fixed`: the same pause before every attempt (MQTT.js' default `reconnectPeriod` of 1 s,
 * and much simple firmware) — a fleet dropped at once comes back in lockstep waves.
 * `backoff`: exponential back-off with full jitter (a random pause in [0, min(cap, base·2ⁿ)]),
 * the usual advice for fleets (AWS architecture blog, "Exponential Backoff and Jitter"). */
export const ReconnectPolicy = { Fixed: 'fixed', Backoff: 'backoff' } as const;
export type ReconnectPolicy = (typeof ReconnectPolicy)[keyof typeof ReconnectPolicy];

export interface ReconnectJob {
  policy: ReconnectPolicy;
  /** Pause (fixed) or first back-off ceiling (backoff), ms. */
  baseMs: number;
  /** Largest back-off ceiling, ms (backoff only). */
  capMs: number;
}

/** Milliseconds to wait before attempt `attempt` (0 = the first after the drop). */
export function reconnectDelay(job: ReconnectJob, attempt: number, random: () => number = Math.random): number {
  if (job.policy === ReconnectPolicy.Fixed) return job.baseMs;
  const ceiling = Math.min(job.capMs, job.baseMs * 2 ** Math.min(attempt, 30));
  return random() * ceiling;
}

export function parsePolicy(s: string): ReconnectPolicy {
  const p = Object.values(ReconnectPolicy).find((v) => v === s);
  if (!p) throw new Error(`unknown reconnect policy "${s}" (${Object.values(ReconnectPolicy).join(', ')})`);
  return p;
}
