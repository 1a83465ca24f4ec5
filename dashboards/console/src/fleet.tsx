import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { KIND_LABELS, STATUS_LABELS } from '@yulan/protos/labels';
import { api, qs, type FleetCounts, type FleetPage } from './api.js';
import { pick, useI18n } from './i18n.js';
import { useLive } from './live.js';
import { SiteCap } from './site-cap.js';

type Row = FleetPage['items'][number];
const PAGE = 100;
const ROW_PX = 40;
const KINDS = Object.keys(KIND_LABELS) as (keyof typeof KIND_LABELS)[];
const STATUSES = Object.keys(STATUS_LABELS) as (keyof typeof STATUS_LABELS)[];

interface Filters { q: string; site: string; kind: string; status: string; sort: string; order: 'asc' | 'desc'; faulted: boolean }

/** The fleet table: filtered, sorted and paged on the server; only the rows in view are
 * in the DOM, so 100,000 devices scroll like 100. Presence changes arrive over SSE. */
export function Fleet() {
  const { t, lang, time } = useI18n();
  const [f, setF] = useState<Filters>({ q: '', site: '', kind: '', status: '', sort: 'id', order: 'asc', faulted: false });
  const [text, setText] = useState('');
  const [total, setTotal] = useState<number | null>(null);
  const [pages, setPages] = useState<Map<number, Row[]>>(new Map());
  const [counts, setCounts] = useState<FleetCounts | null>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(600);
  const [edgeDown, setEdgeDown] = useState(false);
  const box = useRef<HTMLDivElement>(null);
  const loading = useRef(new Set<number>());
  const gen = useRef(0);

  // Typing settles for 250 ms before the search goes to the server.
  useEffect(() => {
    const h = setTimeout(() => setF((x) => (x.q === text ? x : { ...x, q: text })), 250);
    return () => clearTimeout(h);
  }, [text]);

  const query = (offset: number) => `/api/v1/fleet?${qs({ q: f.q, site: f.site, kind: f.kind, status: f.status, faulted: f.faulted ? 'true' : undefined, sort: f.sort, order: f.order, limit: PAGE, offset })}`;

  async function load(page: number, g: number) {
    if (loading.current.has(page)) return;
    loading.current.add(page);
    try {
      const r = await api<FleetPage>('GET', query(page * PAGE));
      if (g !== gen.current) return;
      setTotal(r.total);
      setEdgeDown(!r.edgeAvailable);
      setPages((m) => new Map(m).set(page, r.items));
    } finally {
      loading.current.delete(page);
    }
  }

  useEffect(() => {
    gen.current++;
    loading.current.clear();
    setPages(new Map());
    setTotal(null);
    box.current?.scrollTo({ top: 0 });
    setScrollTop(0);
    void load(0, gen.current);
  }, [f]);

  useEffect(() => {
    const refresh = () => api<FleetCounts>('GET', '/api/v1/fleet/counts').then(setCounts, () => undefined);
    void refresh();
    const h = setInterval(refresh, 30_000);
    return () => clearInterval(h);
  }, []);

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setHeight(el.clientHeight));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  useLive(undefined, {
    presence: (batch) => {
      const changes = new Map((batch as { deviceId: string; online: boolean; ts: number }[]).map((p) => [p.deviceId, p]));
      setPages((m) => {
        let touched = false;
        const next = new Map(m);
        for (const [k, rows] of m) {
          if (!rows.some((r) => changes.has(r.id))) continue;
          touched = true;
          next.set(k, rows.map((r) => {
            const c = changes.get(r.id);
            if (!c || r.status === 'disabled') return r;
            return { ...r, status: c.online ? 'online' : 'offline', lastSeen: new Date(c.ts).toISOString() };
          }));
        }
        return touched ? next : m;
      });
    },
  });

  const first = Math.max(0, Math.floor(scrollTop / ROW_PX) - 5);
  const last = Math.min(total ?? 0, Math.ceil((scrollTop + height) / ROW_PX) + 5);
  useEffect(() => {
    if (total === null) return;
    for (let p = Math.floor(first / PAGE); p <= Math.floor(Math.max(first, last - 1) / PAGE); p++) if (!pages.has(p)) void load(p, gen.current);
  }, [first, last, total]);

  const rows: { i: number; row: Row | undefined }[] = [];
  for (let i = first; i < last; i++) rows.push({ i, row: pages.get(Math.floor(i / PAGE))?.[i % PAGE] });

  const sums = useMemo(() => {
    const s = { total: 0, online: 0, offline: 0, disabled: 0, faulted: 0 };
    for (const c of counts?.bySiteKind ?? []) (s.total += c.total, s.online += c.online, s.offline += c.offline, s.disabled += c.disabled, s.faulted += c.faulted);
    return s;
  }, [counts]);
  const sites = useMemo(() => [...new Set((counts?.bySiteKind ?? []).map((c) => c.site))], [counts]);
  const set = (k: keyof Filters) => (e: Event) => setF({ ...f, [k]: (e.currentTarget as HTMLSelectElement).value });

  return (
    <section aria-labelledby="fleet-title">
      <h1 id="fleet-title">{t('fleet')}</h1>
      <div class="stats" role="group" aria-label={t('countsBy')}>
        <div class="stat"><span class="n">{sums.total}</span> {t('total')}</div>
        <div class="stat ok"><span class="n">{sums.online}</span> {t('online')}</div>
        <div class="stat warn"><span class="n">{sums.offline}</span> {t('offline')}</div>
        <div class="stat off"><span class="n">{sums.disabled}</span> {t('disabled')}</div>
        <div class="stat bad" data-faulted={sums.faulted}><span class="n">{counts?.faultedAvailable === false ? '?' : sums.faulted}</span> {t('faulted')}</div>
        {counts ? (
          <div class="stat"><span>{t('lastHour')}: +{counts.lastHour.wentOnline} {t('wentOnline')}, −{counts.lastHour.wentOffline} {t('wentOffline')}, {counts.lastHour.registered} {t('registered')}</span></div>
        ) : null}
      </div>
      <details class="counts">
        <summary>{t('countsBy')}</summary>
        <table>
          <thead><tr><th scope="col">{t('site')}</th><th scope="col">{t('kind')}</th><th scope="col">{t('online')}</th><th scope="col">{t('offline')}</th><th scope="col">{t('disabled')}</th><th scope="col">{t('faulted')}</th></tr></thead>
          <tbody>{(counts?.bySiteKind ?? []).map((c) => (
            <tr key={`${c.site}/${c.kind}`}><td>{c.site}</td><td>{pick(KIND_LABELS[c.kind], lang, c.kind)}</td><td>{c.online}</td><td>{c.offline}</td><td>{c.disabled}</td><td>{c.faulted}</td></tr>
          ))}</tbody>
        </table>
      </details>
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>{t('search')}<input type="search" value={text} onInput={(e) => setText((e.currentTarget as HTMLInputElement).value)} /></label>
        <label>{t('site')}<select value={f.site} onChange={set('site')}><option value="">{t('any')}</option>{sites.map((s) => <option key={s} value={s}>{s}</option>)}</select></label>
        <label>{t('kind')}<select value={f.kind} onChange={set('kind')}><option value="">{t('any')}</option>{KINDS.map((k) => <option key={k} value={k}>{pick(KIND_LABELS[k], lang, k)}</option>)}</select></label>
        <label>{t('status')}<select value={f.status} onChange={set('status')}><option value="">{t('any')}</option>{STATUSES.map((s) => <option key={s} value={s}>{pick(STATUS_LABELS[s], lang, s)}</option>)}</select></label>
        <label>{t('sortBy')}<select value={f.sort} onChange={set('sort')}>
          {(['id', 'site', 'kind', 'status', 'firmware', 'lastSeen'] as const).map((s) => <option key={s} value={s}>{t(s === 'firmware' ? 'firmwareVersion' : s)}</option>)}
        </select></label>
        <label class="check"><input type="checkbox" checked={f.faulted} onChange={(e) => setF({ ...f, faulted: (e.currentTarget as HTMLInputElement).checked })} />{t('faultedOnly')}</label>
        <label>{t('order')}<select value={f.order} onChange={set('order')}><option value="asc">{t('asc')}</option><option value="desc">{t('desc')}</option></select></label>
      </form>
      {/* keyed: another site starts empty, never showing the last site's cap under its name */}
      {f.site ? <SiteCap key={f.site} site={f.site} /> : null}
      {edgeDown ? <p class="warning" role="status">{t('edgeDown')}</p> : null}
      <p role="status" class="count">{total === null ? t('loading') : `${total} ${t('rows')}`}</p>
      <div class="grid-box" ref={box} tabIndex={0} role="region" aria-label={t('devices')} onScroll={(e) => setScrollTop((e.currentTarget as HTMLDivElement).scrollTop)}>
        <table class="grid" aria-rowcount={(total ?? 0) + 1}>
          <thead><tr aria-rowindex={1}>
            <th scope="col">{t('id')}</th><th scope="col">{t('site')}</th><th scope="col">{t('kind')}</th><th scope="col">{t('status')}</th>
            <th scope="col">{t('firmwareVersion')}</th><th scope="col">{t('lastSeen')}</th>
          </tr></thead>
          <tbody>
            <tr aria-hidden="true" class="pad" style={{ height: `${first * ROW_PX}px` }} />
            {rows.map(({ i, row }) => (row ? (
              <tr key={row.id} aria-rowindex={i + 2} class={`row ${row.status}`}>
                <td><a href={`#/device/${encodeURIComponent(row.id)}`}>{row.id}</a>{row.name ? <span class="sub"> {row.name}</span> : null}</td>
                <td>{row.site}</td>
                <td>{pick(KIND_LABELS[row.kind], lang, row.kind)}</td>
                <td><span class={`badge ${row.status}`}>{pick(STATUS_LABELS[row.status], lang, row.status)}</span></td>
                <td>{row.firmwareVersion ?? '—'}</td>
                <td>{time(row.lastSeen)}</td>
              </tr>
            ) : (
              <tr key={`p${i}`} aria-rowindex={i + 2} class="row"><td colSpan={6}>{t('loading')}</td></tr>
            )))}
            <tr aria-hidden="true" class="pad" style={{ height: `${Math.max(0, (total ?? 0) - last) * ROW_PX}px` }} />
          </tbody>
        </table>
      </div>
    </section>
  );
}
