import { CloudApi } from './api.js';
import { printJson, table } from './output.js';
import type { CommandIo } from './io.js';
import { ExitCode } from './errors.js';

interface Counts { total: number; open: number; aqi: number; noise: number }
interface Exceedance { type: string; since: string; until: string | null; attributes: Record<string, string> }
interface AllSites { counts: Counts; sites: { site: string; nameEn: string; counts: Counts; events: Exceedance[] }[] }

/** What exceeded: the peak AQI, or the period's level against its zone limit. */
function what(e: Exceedance): string {
  const a = e.attributes;
  if (e.type === 'air.aqi_exceeded') return `AQI peak ${a.peak_aqi ?? '?'} > ${a.alert_level ?? '?'}`;
  return `${a.period === 'night' ? 'Ln' : 'Ld'} ${a.leq_dba ?? '?'} dB(A), zone ${a.zone ?? '?'} limit ${a.limit_dba ?? '?'}`;
}

/** `yulan site exceedances [<id>] [--open] [--from T] [--to T] [--json]`: one site's
 * stored exceedance events, or every site's that has any. */
export async function siteExceedances(site: string | undefined, o: { open?: boolean; from?: string; to?: string; json?: boolean }, io: CommandIo): Promise<number> {
  const q = new URLSearchParams();
  if (o.open) q.set('open', 'true');
  if (o.from) q.set('from', o.from);
  if (o.to) q.set('to', o.to);
  const qs = q.size > 0 ? `?${q}` : '';
  const api = CloudApi.fromEnv(io.env);
  let rows: { site: string; e: Exceedance }[];
  let counts: Counts;
  if (site !== undefined) {
    const r = await api.request<{ counts: Counts; events: Exceedance[] }>(`/api/v1/sites/${encodeURIComponent(site)}/exceedances${qs}`);
    if (o.json) { printJson(io.stdout, r.body); return ExitCode.Ok; }
    rows = r.body.events.map((e) => ({ site, e }));
    counts = r.body.counts;
  } else {
    const r = await api.request<AllSites>(`/api/v1/exceedances${qs}`);
    if (o.json) { printJson(io.stdout, r.body); return ExitCode.Ok; }
    rows = r.body.sites.flatMap((s) => s.events.map((e) => ({ site: s.site, e })));
    counts = r.body.counts;
  }
  table(io.stdout, ['site', 'type', 'since', 'until', 'what'], rows.map(({ site: s, e }) => [s, e.type, e.since, e.until ?? 'ongoing', what(e)]));
  io.stdout.write(`${counts.total} exceedance(s): ${counts.open} ongoing, ${counts.aqi} AQI, ${counts.noise} noise\n`);
  return ExitCode.Ok;
}
