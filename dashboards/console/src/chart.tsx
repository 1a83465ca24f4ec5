import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import { FIELD_LABELS } from '@yulan/protos/labels';
import { api, qs, type Telemetry } from './api.js';
import { pick, useI18n } from './i18n.js';
import { readAllPages } from './pages.js';

// The edge answers at most 10,000 points per query (a larger limit is its 400, the page's empty chart).
export const EDGE_MAX_POINTS = 10_000;
const RANGES = [{ ms: 3_600_000, label: '1 h' }, { ms: 6 * 3_600_000, label: '6 h' }, { ms: 86_400_000, label: '24 h' }, { ms: 7 * 86_400_000, label: '7 d' }];

/** One field's history from GET /devices/:id/telemetry: raw points for the last hour,
 * 1-minute means beyond; live readings are appended while the last hour is shown. */
export function HistoryChart({ deviceId, fields, live }: { deviceId: string; fields: string[]; live: { ts: number; fields: Record<string, number> } | null }) {
  const { t, lang } = useI18n();
  const [field, setField] = useState(fields[0] ?? '');
  const [range, setRange] = useState(RANGES[0]!.ms);
  // Raw points for the last hour by default, 1-minute means beyond; either can be chosen.
  const [resolution, setResolution] = useState<'auto' | 'raw' | '1m'>('auto');
  const [count, setCount] = useState<number | null>(null);
  const el = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const data = useRef<[number[], number[]]>([[], []]);

  useEffect(() => { if (!fields.includes(field) && fields[0]) setField(fields[0]); }, [fields.join(',')]);

  useEffect(() => {
    if (!field || !el.current) return;
    let cancelled = false;
    const to = Date.now();
    const res = resolution !== 'auto' ? resolution : range <= 3_600_000 ? 'raw' : '1m';
    const page = (from: number) => api<Telemetry>('GET', `/api/v1/devices/${encodeURIComponent(deviceId)}/telemetry?${qs({ from, to, resolution: res, fields: field, limit: EDGE_MAX_POINTS })}`).then((r) => r.points);
    const load = () => readAllPages(page, to - range, EDGE_MAX_POINTS);
    void load().then((points) => {
      if (cancelled || !el.current) return;
      const xs: number[] = [];
      const ys: number[] = [];
      for (const p of points) {
        const v = p.fields[field];
        const y = typeof v === 'number' ? v : (v as { mean?: number } | undefined)?.mean;
        if (typeof y === 'number') (xs.push(p.ts / 1000), ys.push(y));
      }
      data.current = [xs, ys];
      setCount(xs.length);
      plot.current?.destroy();
      const label = FIELD_LABELS[field];
      plot.current = new uPlot({
        width: Math.max(280, el.current.clientWidth), height: 240,
        series: [{}, { label: `${pick(label, lang, field)}${label?.unit ? ` (${label.unit})` : ''}`, stroke: '#b4235a', width: 2 }],
        axes: [{}, { size: 60 }],
        scales: { x: { time: true } },
        // The same clock as every other time on the console (communities keep Asia/Shanghai time).
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Asia/Shanghai'),
      }, data.current, el.current);
    }, () => setCount(0));
    return () => { cancelled = true; };
  }, [deviceId, field, range, resolution, lang]);

  useEffect(() => () => plot.current?.destroy(), []);

  useEffect(() => {
    if (!live || range > 3_600_000 || resolution === '1m' || !plot.current) return;
    const v = live.fields[field];
    if (typeof v !== 'number') return;
    const [xs, ys] = data.current;
    xs.push(live.ts / 1000);
    ys.push(v);
    plot.current.setData([xs, ys]);
    setCount(xs.length);
  }, [live]);

  return (
    <section class="card" aria-labelledby="chart-title">
      <h2 id="chart-title">{t('chart')}</h2>
      <div class="row-form">
        <label>{t('field')}<select value={field} onChange={(e) => setField((e.currentTarget as HTMLSelectElement).value)}>
          {fields.map((f) => <option key={f} value={f}>{pick(FIELD_LABELS[f], lang, f)}</option>)}
        </select></label>
        <label>{t('resolution')}<select value={resolution} onChange={(e) => setResolution((e.currentTarget as HTMLSelectElement).value as 'auto')}>
          <option value="auto">{t('raw')} ≤ 1 h, {t('perMinute')} &gt; 1 h</option>
          <option value="raw">{t('raw')}</option>
          <option value="1m">{t('perMinute')}</option>
        </select></label>
        <fieldset class="range"><legend>{t('range')}</legend>
          {RANGES.map((r) => (
            <button key={r.ms} type="button" aria-pressed={range === r.ms} onClick={() => setRange(r.ms)}>{r.label}</button>
          ))}
        </fieldset>
      </div>
      <div ref={el} class="chart" role="img" aria-label={`${t('chart')}: ${pick(FIELD_LABELS[field], lang, field)}, ${count ?? 0} points`} data-points={count ?? 0} />
      {count === 0 ? <p>{t('noData')}</p> : null}
    </section>
  );
}
