/** Counting semaphore. The fleet shares one between all devices so that at most `limit`
 * MQTT handshakes (initial or reconnect) are in flight: 10k devices must not open 10k
 * sockets at once, nor stampede a restarted broker. */
export interface ConnectGate {
  acquire(): Promise<() => void>;
  readonly active: number;
  readonly waiting: number;
}

export function createGate(limit: number): ConnectGate {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`gate limit must be a positive integer, got ${limit}`);
  let active = 0;
  const queue: (() => void)[] = [];
  const release = (): void => {
    active -= 1;
    const next = queue.shift();
    if (next) {
      active += 1;
      next();
    }
  };
  const once = (): (() => void) => {
    let done = false;
    return () => {
      if (!done) {
        done = true;
        release();
      }
    };
  };
  return {
    acquire() {
      if (active < limit) {
        active += 1;
        return Promise.resolve(once());
      }
      return new Promise((resolve) => queue.push(() => resolve(once())));
    },
    get active() {
      return active;
    },
    get waiting() {
      return queue.length;
    },
  };
}

/** Runs `fn` over `items` with at most `limit` in flight; stops starting new work after the
 * first failure and rethrows it once the in-flight calls have settled. */
export async function mapLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const item = items[next++] as T;
      try {
        await fn(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure) throw failure.error;
}
