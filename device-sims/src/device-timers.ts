/**
 * A device's timers, all cancelled together when it closes: callbacks scheduled by its
 * command runner, and the one wakeable sleep of its connection loop (reconnect back-off,
 * a simulated reboot's downtime).
 */
export class DeviceTimers {
  readonly #timers = new Set<NodeJS.Timeout>();
  #wake: (() => void) | undefined;

  after(delayMs: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, delayMs);
    this.#timers.add(t);
  }

  /** Resolves after `ms`, or at once when cancelAll() runs. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.#timers.delete(t);
        this.#wake = undefined;
        resolve();
      }, ms);
      this.#timers.add(t);
      this.#wake = () => {
        clearTimeout(t);
        this.#timers.delete(t);
        resolve();
      };
    });
  }

  cancelAll(): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.#wake?.();
    this.#wake = undefined;
  }
}
