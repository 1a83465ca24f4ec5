/**
 * The few Reflect metadata functions tsyringe (inside @peculiar/x509) checks for at load.
 * reflect-metadata is not a dependency; x509 only stores and reads constructor metadata
 * through these, so a WeakMap-backed table is enough. Import before @peculiar/x509
 * (`import '@yulan/protos/reflect-shim'`): one copy for every service that handles certificates.
 */
type Table = Map<string, Map<unknown, unknown>>;
const store = new WeakMap<object, Table>();

function table(target: object, prop?: string | symbol): Map<unknown, unknown> {
  let t = store.get(target);
  if (!t) store.set(target, (t = new Map()));
  const k = String(prop ?? '');
  let m = t.get(k);
  if (!m) t.set(k, (m = new Map()));
  return m;
}

const R = Reflect as unknown as Record<string, unknown>;
if (typeof R.getMetadata !== 'function') {
  const getMetadata = (key: unknown, target: object, prop?: string | symbol): unknown => {
    for (let o: object | null = target; o; o = Object.getPrototypeOf(o) as object | null) {
      const m = table(o, prop);
      if (m.has(key)) return m.get(key);
    }
    return undefined;
  };
  Object.assign(R, {
    defineMetadata: (key: unknown, value: unknown, target: object, prop?: string | symbol) => void table(target, prop).set(key, value),
    getOwnMetadata: (key: unknown, target: object, prop?: string | symbol) => table(target, prop).get(key),
    getMetadata,
    hasMetadata: (key: unknown, target: object, prop?: string | symbol) => getMetadata(key, target, prop) !== undefined,
    metadata: (key: unknown, value: unknown) => (target: object, prop?: string | symbol) => void table(target, prop).set(key, value),
  });
}

export {};
