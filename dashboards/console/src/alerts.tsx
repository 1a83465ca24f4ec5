import { useEffect, useState } from 'preact/hooks';
import { AlertLevel } from '@yulan/protos/care';
import { api, ApiError } from './api.js';
import { useI18n } from './i18n.js';

interface Alert {
  id: string; deviceId: string; site: string; residentName: string | null; type: string; level: string; status: string;
  openedAt: number | string; nextDueAtMs: number | null; ladderStep: number; unreached: boolean; claimedBy: string | null;
}
/** Most urgent first, in the order @yulan/protos declares the levels. */
const URGENCY: Record<string, number> = Object.fromEntries(Object.values(AlertLevel).map((l, i) => [l, i]));
const CLOSED = new Set(['resolved', 'cancelled']);
const LADDER = ['family', 'worker', 'callcentre'];

/** Open alerts the operator may see, most urgent first; unreached ones on top and marked.
 * The alert API decides visibility (docs/care.md §5) and audits the read. */
export function Alerts() {
  const { t, time } = useI18n();
  const [items, setItems] = useState<Alert[] | null>(null);
  const [error, setError] = useState('');
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const load = () => api<{ items: Alert[] }>('GET', '/api/v1/alerts?limit=500').then((r) => setItems(r.items.filter((a) => !CLOSED.has(a.status))), (e: unknown) => setError(e instanceof ApiError ? e.message : String(e)));
    void load();
    const h = setInterval(() => { setNow(Date.now()); void load(); }, 5000);
    return () => clearInterval(h);
  }, []);
  const sorted = [...(items ?? [])].sort((a, b) => Number(b.unreached) - Number(a.unreached) || (URGENCY[a.level] ?? 9) - (URGENCY[b.level] ?? 9) || String(a.openedAt).localeCompare(String(b.openedAt)));
  return (
    <section aria-labelledby="alerts-title">
      <h1 id="alerts-title">{t('openAlerts')}</h1>
      {error ? <p role="alert" class="error">{error}</p> : null}
      {items === null ? <p>{t('loading')}</p> : sorted.length === 0 ? <p>{t('none')}</p> : (
        <table class="list">
          <thead><tr>
            <th scope="col">{t('urgency')}</th><th scope="col">{t('type')}</th><th scope="col">{t('resident')}</th><th scope="col">{t('id')}</th>
            <th scope="col">{t('step')}</th><th scope="col">{t('due')}</th><th scope="col">{t('opened')}</th>
          </tr></thead>
          <tbody>{sorted.map((a) => (
            <tr key={a.id} class={a.unreached ? 'unreached' : ''} data-alert={a.id}>
              <td><span class={`badge ${a.level}`}>{a.level}</span>{a.unreached ? <strong class="flag"> {t('unreached')}</strong> : null}</td>
              <td>{a.type}</td>
              <td>{a.residentName ?? '—'}</td>
              <td><a href={`#/device/${encodeURIComponent(a.deviceId)}`}>{a.deviceId}</a></td>
              <td><ol class="ladder" aria-label={t('step')}>{LADDER.map((s, i) => <li key={s} class={i < a.ladderStep ? 'done' : i === a.ladderStep ? 'now' : ''}>{s}</li>)}</ol></td>
              <td>{a.nextDueAtMs ? `${Math.max(0, Math.round((a.nextDueAtMs - now) / 1000))} s` : '—'}</td>
              <td>{time(a.openedAt)}</td>
            </tr>
          ))}</tbody>
        </table>
      )}
    </section>
  );
}
