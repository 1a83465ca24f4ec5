/**
 * Small seeded PRNG (mulberry32). The models must be reproducible from a seed, so they never
 * touch Math.random(); the whole generator state is one 32-bit integer, which makes it cheap
 * to keep one per device (10k devices) and to snapshot alongside a model's state.
 */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform in [min, max). */
  range(min: number, max: number): number;
  /** Integer in [min, max] inclusive. */
  int(min: number, max: number): number;
  /** True with probability p. */
  chance(p: number): boolean;
  /** Standard normal via Box–Muller, scaled. */
  normal(mean?: number, sd?: number): number;
  pick<T>(items: readonly T[]): T;
  /** Current generator state; `createRng(rng.state)` continues the same sequence. */
  readonly state: number;
}

export function createRng(seed: number): Rng {
  let s = seed >>> 0;
  const next = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    range: (min, max) => min + (max - min) * next(),
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    chance: (p) => next() < p,
    normal(mean = 0, sd = 1) {
      // 1 - u keeps the log argument in (0, 1].
      const u = 1 - next();
      const v = next();
      return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    },
    pick<T>(items: readonly T[]): T {
      if (items.length === 0) throw new RangeError('pick from an empty list');
      return items[Math.floor(next() * items.length)] as T;
    },
    get state() {
      return s;
    },
  };
}

/** Derives a stable 32-bit seed from a fleet seed and a device id (FNV-1a), so each device
 * gets its own independent stream and adding devices never shifts the others' streams. */
export function deriveSeed(seed: number, id: string): number {
  let h = (0x811c9dc5 ^ (seed >>> 0)) >>> 0;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** Probability that a Poisson process with `ratePerHour` fires at least once in `dtMs`.
 * Using the hazard instead of a fixed per-step chance keeps behaviour independent of the
 * publish rate: a device at 0.2 msg/s and one at 5 msg/s see the same event frequency. */
export function hazard(ratePerHour: number, dtMs: number): number {
  if (ratePerHour <= 0 || dtMs <= 0) return 0;
  return 1 - Math.exp((-ratePerHour * dtMs) / 3_600_000);
}
