/** How long each step of a device's close() may take. */
export const CLOSE_STEP_MS = 2000;

/** Resolves with the promise's value, or undefined once `ms` have passed. */
export function bounded<T>(p: Promise<T> | undefined, ms: number): Promise<T | undefined> {
  if (!p) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(undefined), ms);
    p.then((v) => { clearTimeout(t); resolve(v); }, () => { clearTimeout(t); resolve(undefined); });
  });
}
