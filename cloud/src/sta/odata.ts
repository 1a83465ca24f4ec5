/**
 * The OData subset of OGC SensorThings API 1.1 §9.3.3 used by `$filter` and `$orderby`:
 * comparison (eq ne gt ge lt le), logical (and or not, parentheses), arithmetic (add sub
 * mul div mod), time (ISO 8601 date-time literals compared as instants; year() month()
 * day() hour() minute() second() fractionalseconds() date() time() totaloffsetminutes()
 * now() mindatetime() maxdatetime(), in UTC), string (startswith endswith substringof
 * indexof substring tolower toupper trim concat length) and math (round floor ceiling)
 * functions, and property paths (`properties/site`, `unitOfMeasurement/symbol`). Pure.
 * A parse error throws FilterError with the position.
 */

export class FilterError extends Error {}

export type Value = string | number | boolean | null | { t: number };
export type Node =
  | { k: 'lit'; v: Value }
  | { k: 'path'; p: string[] }
  | { k: 'not'; a: Node }
  | { k: 'bin'; op: string; a: Node; b: Node }
  | { k: 'fn'; name: string; args: Node[] };

const DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})/;
const CMP = new Set(['eq', 'ne', 'gt', 'ge', 'lt', 'le']);
const FUNCS: Record<string, number | [number, number]> = {
  startswith: 2, endswith: 2, substringof: 2, contains: 2, tolower: 1, toupper: 1, length: 1, indexof: 2, substring: [2, 3], trim: 1, concat: 2,
  year: 1, month: 1, day: 1, hour: 1, minute: 1, second: 1, fractionalseconds: 1, date: 1, time: 1, totaloffsetminutes: 1,
  now: 0, mindatetime: 0, maxdatetime: 0, round: 1, floor: 1, ceiling: 1,
};
const arity = (f: string, n: number): boolean => {
  const a = FUNCS[f] as number | [number, number];
  return typeof a === 'number' ? n === a : n >= a[0] && n <= a[1];
};

export function parseFilter(src: string): Node {
  if (src.length > 2000) throw new FilterError('$filter is longer than 2000 characters');
  let i = 0;
  const ws = (): void => {
    while (src[i] === ' ') i++;
  };
  const fail = (what: string): never => {
    throw new FilterError(`$filter: ${what} at position ${i}`);
  };
  const word = (): string | undefined => {
    ws();
    const m = /^[A-Za-z_@][A-Za-z0-9_.@]*/.exec(src.slice(i));
    return m?.[0];
  };
  const peekWord = (w: string): boolean => {
    ws();
    return src.slice(i, i + w.length).toLowerCase() === w && !/[A-Za-z0-9_]/.test(src[i + w.length] ?? '');
  };
  const eat = (w: string): boolean => {
    if (!peekWord(w)) return false;
    i += w.length;
    return true;
  };
  const or = (): Node => {
    let a = and();
    while (eat('or')) a = { k: 'bin', op: 'or', a, b: and() };
    return a;
  };
  const and = (): Node => {
    let a = not();
    while (eat('and')) a = { k: 'bin', op: 'and', a, b: not() };
    return a;
  };
  const not = (): Node => (eat('not') ? { k: 'not', a: not() } : cmp());
  const cmp = (): Node => {
    const a = additive();
    for (const op of CMP) if (eat(op)) return { k: 'bin', op, a, b: additive() };
    return a;
  };
  const additive = (): Node => {
    let a = multiplicative();
    for (;;) {
      const op = eat('add') ? 'add' : eat('sub') ? 'sub' : undefined;
      if (!op) return a;
      a = { k: 'bin', op, a, b: multiplicative() };
    }
  };
  const multiplicative = (): Node => {
    let a = primary();
    for (;;) {
      const op = eat('mul') ? 'mul' : eat('div') ? 'div' : eat('mod') ? 'mod' : undefined;
      if (!op) return a;
      a = { k: 'bin', op, a, b: primary() };
    }
  };
  const primary = (): Node => {
    ws();
    const c = src[i];
    if (c === undefined) return fail('unexpected end');
    if (c === '(') {
      i++;
      const e = or();
      ws();
      if (src[i] !== ')') fail("expected ')'");
      i++;
      return e;
    }
    if (c === "'") {
      let s = '';
      i++;
      for (;;) {
        if (i >= src.length) fail('unterminated string');
        if (src[i] === "'") {
          if (src[i + 1] === "'") { s += "'"; i += 2; continue; }
          i++;
          return { k: 'lit', v: s };
        }
        s += src[i++];
      }
    }
    const dt = DATETIME.exec(src.slice(i));
    if (dt) {
      i += dt[0].length;
      return { k: 'lit', v: { t: Date.parse(dt[0]) } };
    }
    const num = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(src.slice(i));
    if (num) {
      i += num[0].length;
      return { k: 'lit', v: Number(num[0]) };
    }
    const w = word();
    if (!w) return fail('expected a value or property');
    const lw = w.toLowerCase();
    if (lw === 'true' || lw === 'false' || lw === 'null') {
      i += w.length;
      return { k: 'lit', v: lw === 'null' ? null : lw === 'true' };
    }
    i += w.length;
    ws();
    if (src[i] === '(' && lw in FUNCS) {
      i++;
      const args: Node[] = [];
      ws();
      if (src[i] !== ')') {
        args.push(or());
        ws();
        while (src[i] === ',') { i++; args.push(or()); ws(); }
      }
      if (src[i] !== ')') fail("expected ')'");
      i++;
      if (!arity(lw, args.length)) fail(`${lw}() takes ${String(FUNCS[lw])} argument(s)`);
      return { k: 'fn', name: lw, args };
    }
    const p = [w];
    while (src[i] === '/') {
      i++;
      const n = /^[A-Za-z_@][A-Za-z0-9_.@]*/.exec(src.slice(i));
      if (!n) fail('expected a property name after /');
      p.push(n![0]);
      i += n![0].length;
    }
    return { k: 'path', p };
  };
  const node = or();
  ws();
  if (i < src.length) fail(`unexpected "${src.slice(i, i + 10)}"`);
  return node;
}

export function get(e: Record<string, unknown>, path: readonly string[]): Value {
  // `id` is how OData names an entity's @iot.id in $filter and $orderby.
  if (path.length === 1 && path[0] === 'id' && !('id' in e)) path = ['@iot.id'];
  let v: unknown = e;
  for (const p of path) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[p] : undefined;
  if (v === undefined) return null;
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || v === null) return v;
  return null;
}

// A time interval (`start/end`, an AQI period's phenomenonTime) compares by its start.
export const asTime = (v: Value): number | undefined =>
  typeof v === 'object' && v !== null ? v.t : typeof v === 'string' && DATETIME.test(v) ? Date.parse(v.split('/')[0] as string) : undefined;

function compare(op: string, a: Value, b: Value): boolean {
  let x: unknown = a;
  let y: unknown = b;
  const ta = asTime(a);
  const tb = asTime(b);
  // An instant against an ISO string (phenomenonTime) compares as instants.
  if ((typeof a === 'object' && a !== null) || (typeof b === 'object' && b !== null)) {
    if (ta === undefined || tb === undefined) return op === 'ne';
    x = ta;
    y = tb;
  }
  if (op === 'eq') return x === y;
  if (op === 'ne') return x !== y;
  if (x === null || y === null || typeof x !== typeof y) return false;
  const xx = x as number | string;
  const yy = y as number | string;
  return op === 'gt' ? xx > yy : op === 'ge' ? xx >= yy : op === 'lt' ? xx < yy : xx <= yy;
}

export function evaluate(n: Node, e: Record<string, unknown>, nowMs: number): Value {
  switch (n.k) {
    case 'lit': return n.v;
    case 'path': return get(e, n.p);
    case 'not': return !truthy(evaluate(n.a, e, nowMs));
    case 'bin': {
      if (n.op === 'and') return truthy(evaluate(n.a, e, nowMs)) && truthy(evaluate(n.b, e, nowMs));
      if (n.op === 'or') return truthy(evaluate(n.a, e, nowMs)) || truthy(evaluate(n.b, e, nowMs));
      if (ARITH.has(n.op)) return arith(n.op, evaluate(n.a, e, nowMs), evaluate(n.b, e, nowMs));
      return compare(n.op, evaluate(n.a, e, nowMs), evaluate(n.b, e, nowMs));
    }
    case 'fn': {
      const [a = null, b = null, c = null] = n.args.map((x) => evaluate(x, e, nowMs));
      const num = (v: Value): number | undefined => (typeof v === 'number' ? v : undefined);
      const s = (v: Value | undefined): string | undefined => (typeof v === 'string' ? v : undefined);
      const date = (v: Value): Date | undefined => {
        const t = asTime(v ?? null);
        return t === undefined ? undefined : new Date(t);
      };
      switch (n.name) {
        case 'now': return { t: nowMs };
        case 'startswith': return s(a) !== undefined && s(b) !== undefined ? s(a)!.startsWith(s(b)!) : false;
        case 'endswith': return s(a) !== undefined && s(b) !== undefined ? s(a)!.endsWith(s(b)!) : false;
        case 'substringof': return s(a) !== undefined && s(b) !== undefined ? s(b)!.includes(s(a)!) : false;
        case 'contains': return s(a) !== undefined && s(b) !== undefined ? s(a)!.includes(s(b)!) : false;
        case 'tolower': return s(a)?.toLowerCase() ?? null;
        case 'toupper': return s(a)?.toUpperCase() ?? null;
        case 'length': return s(a)?.length ?? null;
        case 'year': return date(a ?? null)?.getUTCFullYear() ?? null;
        case 'month': return (date(a ?? null)?.getUTCMonth() ?? -2) + 1 || null;
        case 'day': return date(a ?? null)?.getUTCDate() ?? null;
        case 'hour': return date(a ?? null)?.getUTCHours() ?? null;
        case 'minute': return date(a ?? null)?.getUTCMinutes() ?? null;
        case 'second': return date(a ?? null)?.getUTCSeconds() ?? null;
        case 'fractionalseconds': return date(a ?? null) ? date(a ?? null)!.getUTCMilliseconds() / 1000 : null;
        case 'date': return date(a ?? null)?.toISOString().slice(0, 10) ?? null;
        case 'time': return date(a ?? null)?.toISOString().slice(11, 23) ?? null;
        case 'totaloffsetminutes': return date(a ?? null) ? 0 : null; // instants are UTC here
        case 'mindatetime': return { t: -8.64e15 };
        case 'maxdatetime': return { t: 8.64e15 };
        case 'indexof': return s(a) !== undefined && s(b) !== undefined ? s(a)!.indexOf(s(b)!) : null;
        case 'substring': {
          const str = s(a);
          const from = num(b);
          if (str === undefined || from === undefined) return null;
          const len = num(c);
          return len === undefined ? str.slice(from) : str.slice(from, from + len);
        }
        case 'trim': return s(a)?.trim() ?? null;
        case 'concat': return s(a) !== undefined && s(b) !== undefined ? s(a)! + s(b)! : null;
        case 'round': return num(a) === undefined ? null : Math.round(num(a)!);
        case 'floor': return num(a) === undefined ? null : Math.floor(num(a)!);
        case 'ceiling': return num(a) === undefined ? null : Math.ceil(num(a)!);
      }
      return null;
    }
  }
}

const truthy = (v: Value): boolean => v === true;

const ARITH = new Set(['add', 'sub', 'mul', 'div', 'mod']);
function arith(op: string, a: Value, b: Value): Value {
  if (typeof a !== 'number' || typeof b !== 'number') return null;
  switch (op) {
    case 'add': return a + b;
    case 'sub': return a - b;
    case 'mul': return a * b;
    case 'div': return b === 0 ? null : a / b;
    default: return b === 0 ? null : a % b;
  }
}

/** The range of `path` a filter's top-level `and` chain pins with instant literals (so
 * Observations can be fetched for just that range). */
export function timeBounds(n: Node, path: string): { fromMs?: number; toMs?: number } {
  const out: { fromMs?: number; toMs?: number } = {};
  const walk = (x: Node): void => {
    if (x.k === 'bin' && x.op === 'and') { walk(x.a); walk(x.b); return; }
    if (x.k !== 'bin' || x.a.k !== 'path' || x.a.p.join('/') !== path || x.b.k !== 'lit') return;
    const t = asTime(x.b.v);
    if (t === undefined) return;
    if (x.op === 'gt' || x.op === 'ge' || x.op === 'eq') out.fromMs = Math.max(out.fromMs ?? -Infinity, t);
    if (x.op === 'lt' || x.op === 'eq') out.toMs = Math.min(out.toMs ?? Infinity, x.op === 'eq' ? t + 1 : t);
    if (x.op === 'le') out.toMs = Math.min(out.toMs ?? Infinity, t + 1);
  };
  walk(n);
  return out;
}
