import { CloudError, CloudErrorCode } from '../errors.js';
import { FilterError, parseFilter, type Node } from './odata.js';
import { parseOrderBy, type OrderKey } from './order-by.js';

/** SensorThings query options (STA 1.1 §9.3), parsed and checked. Pure. */
export interface Options {
  top: number;
  skip: number;
  count: boolean;
  select?: string[];
  filter?: Node;
  orderby?: OrderKey[];
  expand?: Expansion[];
  /** `$resultFormat=dataArray` (STA 1.1 §14.3): Observations as one array per Datastream */
  dataArray?: boolean;
  /** the options as given, to build @iot.nextLink */
  raw: Record<string, string>;
}
export interface Expansion { nav: string; opts: Options }

export const TOP_DEFAULT = 100;
export const TOP_MAX = 1000;
const KNOWN = ['$top', '$skip', '$count', '$select', '$filter', '$orderby', '$expand', '$resultFormat'];

export function bad(message: string): CloudError {
  return new CloudError(CloudErrorCode.Validation, message);
}

/** Splits on `sep` outside parentheses and quoted strings. */
export function splitTop(s: string, sep: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let cur = '';
  for (const c of s) {
    if (c === "'") quoted = !quoted;
    else if (!quoted && c === '(') depth++;
    else if (!quoted && c === ')') depth--;
    if (c === sep && depth === 0 && !quoted) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

/** Deepest `$expand` nesting served: Things → Datastreams → Observations/ObservedProperty
 * is what clients ask for; deeper only multiplies edge queries. */
export const EXPAND_DEPTH_MAX = 3;

/** `$expand=Observations($top=24;$orderby=phenomenonTime desc),Thing`, nested with
 * `$expand` inside the options (`Datastreams($expand=ObservedProperty)`) or as a path
 * (`Datastreams/ObservedProperty`, STA 1.1 §9.3.2.1). */
function parseExpand(src: string, depth: number): Expansion[] {
  if (depth >= EXPAND_DEPTH_MAX) throw bad(`$expand: at most ${EXPAND_DEPTH_MAX} levels deep`);
  const out: Expansion[] = [];
  for (const part of splitTop(src, ',')) {
    const m = /^\s*([A-Za-z]+)((?:\/[A-Za-z]+)*)(?:\((.*)\))?\s*$/s.exec(part);
    if (!m) throw bad(`$expand: cannot read "${part.trim()}"`);
    const raw: Record<string, string> = {};
    for (const o of m[3] ? splitTop(m[3], ';') : []) {
      const eq = o.indexOf('=');
      if (eq <= 0) throw bad(`$expand: cannot read option "${o}"`);
      raw[o.slice(0, eq).trim()] = o.slice(eq + 1);
    }
    const nav = m[1] as string;
    const rest = m[2] ? m[2].slice(1) : '';
    // A path A/B/C is A($expand=B/C); options in parentheses belong to the last segment.
    const opts = rest
      ? parseOptions({ $expand: m[3] ? `${rest}(${m[3]})` : rest }, depth + 1)
      : parseOptions(raw, depth + 1);
    const same = out.find((x) => x.nav === nav);
    if (same && rest) same.opts.expand = [...(same.opts.expand ?? []), ...(opts.expand ?? [])];
    else if (same) throw bad(`$expand: ${nav} is listed twice`);
    else out.push({ nav, opts });
  }
  return out;
}

export function parseOptions(q: Record<string, string | undefined>, depth = 0): Options {
  const raw: Record<string, string> = {};
  for (const [k, v] of Object.entries(q)) {
    if (!KNOWN.includes(k)) throw bad(`unknown query option "${k}"`);
    if (v !== undefined) raw[k] = v;
  }
  const int = (k: string, fallback: number, max: number): number => {
    const v = q[k];
    if (v === undefined) return fallback;
    if (!/^[0-9]{1,9}$/.test(v) || Number(v) > max) throw bad(`${k} must be an integer 0..${max}`);
    return Number(v);
  };
  const count = q.$count;
  if (count !== undefined && count !== 'true' && count !== 'false') throw bad('$count must be true or false');
  const sel = q.$select?.split(',').map((s) => s.trim()).filter(Boolean);
  if (sel && (sel.length === 0 || sel.some((s) => !/^(@iot\.(id|selfLink)|[A-Za-z]+)$/.test(s)))) throw bad('$select takes property names');
  const o: Options = { top: int('$top', TOP_DEFAULT, TOP_MAX), skip: int('$skip', 0, 1_000_000_000), count: count === 'true', raw };
  if (sel) o.select = sel;
  if (q.$resultFormat !== undefined) {
    if (q.$resultFormat !== 'dataArray' || depth > 0) throw bad('$resultFormat takes dataArray, at the top level of an Observations request');
    o.dataArray = true;
  }
  try {
    if (q.$filter !== undefined) o.filter = parseFilter(q.$filter);
    if (q.$orderby !== undefined) o.orderby = parseOrderBy(q.$orderby);
  } catch (err) {
    if (err instanceof FilterError) throw bad(err.message);
    throw err;
  }
  if (q.$expand !== undefined) o.expand = parseExpand(q.$expand, depth);
  return o;
}
