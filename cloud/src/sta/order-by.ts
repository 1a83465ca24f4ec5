import { FilterError, asTime, get, type Value } from './odata.js';

/** `$orderby` of STA 1.1 §9.3.3.3: property paths, asc/desc, instants as instants. Pure. */
export interface OrderKey { p: string[]; desc: boolean }

export function parseOrderBy(src: string): OrderKey[] {
  return src.split(',').map((part) => {
    const m = /^\s*([A-Za-z_@][A-Za-z0-9_.@]*(?:\/[A-Za-z_@][A-Za-z0-9_.@]*)*)(?:\s+(asc|desc))?\s*$/i.exec(part);
    if (!m) throw new FilterError(`$orderby: cannot read "${part.trim()}"`);
    return { p: (m[1] as string).split('/'), desc: m[2]?.toLowerCase() === 'desc' };
  });
}

export function sortBy<T extends Record<string, unknown>>(items: T[], keys: readonly OrderKey[]): T[] {
  const cmp = (x: Value, y: Value): number => {
    const tx = asTime(x);
    const ty = asTime(y);
    const a = tx ?? x;
    const b = ty ?? y;
    if (a === b) return 0;
    if (a === null) return -1;
    if (b === null) return 1;
    return (a as number | string) < (b as number | string) ? -1 : 1;
  };
  return [...items].sort((x, y) => {
    for (const k of keys) {
      const c = cmp(get(x, k.p), get(y, k.p));
      if (c !== 0) return k.desc ? -c : c;
    }
    return 0;
  });
}
