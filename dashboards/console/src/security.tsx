import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, type Get } from './api.js';
import { useI18n } from './i18n.js';

type Listing = Get<'/api/v1/security/alerts'>;
type Required = Get<'/api/v1/firmware/update-required'>;

/** Security alerts (docs/security.md, "Security alerts"): open ones first and marked, then
 * the closed ones, newest first; the rules in force; whether the broker is being read.
 * Polled every 5 s like the care alerts screen. */
export function Security() {
  const { t, time } = useI18n();
  const [data, setData] = useState<Listing | null>(null);
  const [required, setRequired] = useState<Required | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    const fail = (e: unknown) => setError(e instanceof ApiError ? e.message : String(e));
    const load = () => Promise.all([
      api<Listing>('GET', '/api/v1/security/alerts?limit=100').then((r) => { setData(r); setError(''); }, fail),
      api<Required>('GET', '/api/v1/firmware/update-required?limit=100').then(setRequired, fail),
    ]);
    void load();
    const h = setInterval(() => void load(), 5000);
    return () => clearInterval(h);
  }, []);
  const items = [...(data?.items ?? [])].sort((a, b) => Number(a.closedAt !== null) - Number(b.closedAt !== null) || b.id - a.id);
  return (
    <section aria-labelledby="security-title">
      <h1 id="security-title">{t('securityAlerts')}</h1>
      {error ? <p role="alert" class="error">{error}</p> : null}
      {data?.monitor.brokerReachable === false ? <p role="alert" class="error">{t('brokerUnread')}</p> : null}
      {data === null ? <p>{t('loading')}</p> : items.length === 0 ? <p>{t('none')}</p> : (
        <table class="list">
          <thead><tr>
            <th scope="col">{t('status')}</th><th scope="col">{t('rule')}</th><th scope="col">{t('opened')}</th><th scope="col">{t('closed')}</th>
            <th scope="col">{t('seen')}</th><th scope="col">{t('peak')}</th><th scope="col">{t('threshold')}</th>
          </tr></thead>
          <tbody>{items.map((a) => (
            <tr key={a.id} data-security-alert={a.id} class={a.closedAt === null ? 'unreached' : ''}>
              <td>{a.closedAt === null ? <strong class="flag">{t('open')}</strong> : t('closed')}</td>
              <td title={a.description}>{a.rule}</td>
              <td>{time(a.openedAt)}</td>
              <td>{time(a.closedAt)}</td>
              <td>{a.events}</td>
              <td>{a.peakCount}</td>
              <td>{a.threshold} / {a.windowSec} s</td>
            </tr>
          ))}</tbody>
        </table>
      )}
      {required && required.total > 0 ? (
        <>
          <h2>{t('updateRequired')} ({required.total})</h2>
          <table class="list">
            <thead><tr><th scope="col">{t('id')}</th><th scope="col">{t('site')}</th><th scope="col">{t('firmwareVersion')}</th><th scope="col">{t('minimum')}</th></tr></thead>
            <tbody>{required.items.map((d) => (
              <tr key={d.id} data-update-required={d.id}>
                <td><a href={`#/device/${encodeURIComponent(d.id)}`}>{d.id}</a></td><td>{d.site}</td><td>{d.firmwareVersion ?? '—'}</td>
                <td>{d.minimumVersion}{d.security ? <strong class="flag"> {t('securityFix')}</strong> : null}</td>
              </tr>
            ))}</tbody>
          </table>
        </>
      ) : null}
      {data ? (
        <>
          <h2>{t('rulesInForce')}</h2>
          <table class="list">
            <thead><tr><th scope="col">{t('rule')}</th><th scope="col">{t('threshold')}</th><th scope="col">{t('watches')}</th></tr></thead>
            <tbody>{data.rules.map((r) => <tr key={r.id}><td>{r.id}</td><td>{r.threshold} / {r.windowSec} s</td><td>{r.description}</td></tr>)}</tbody>
          </table>
        </>
      ) : null}
    </section>
  );
}
