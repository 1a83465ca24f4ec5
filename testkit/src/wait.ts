/**
 * The one polling helper of Yulan's suites: tests wait for a positive signal, never for a
 * fixed time. `probe` is called until it returns an accepted value (truthy, unless `accept`
 * says otherwise) or the deadline passes; a probe that throws is retried, and its last
 * error is named in the timeout so a failure says what was seen, not only what was not.
 */
export interface WaitOptions<T> {
  timeoutMs?: number;
  intervalMs?: number;
  accept?: (v: T) => boolean;
}

export async function waitFor<T>(probe: () => T | Promise<T>, what: string, opts: WaitOptions<T> | number = {}): Promise<NonNullable<T>> {
  const o = typeof opts === 'number' ? { timeoutMs: opts } : opts;
  const accept = o.accept ?? ((v: T) => Boolean(v));
  const deadline = Date.now() + (o.timeoutMs ?? 20_000);
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (accept(v)) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, o.intervalMs ?? 25));
  }
}
