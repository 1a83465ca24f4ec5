import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, type Get } from './api.js';
import { useI18n } from './i18n.js';

type Cap = Get<'/api/v1/sites/{id}/power-cap'>;

/** A site's power cap (docs/ocpp.md §4.1) and each charger's share in the last division,
 * shown under the fleet table while one site is picked; staff with the `twin` permission set
 * it in whole watts or remove it (audited as them, like `yulan site cap set|clear`). */
export function SiteCap({ site }: { site: string }) {
  const { t, time } = useI18n();
  const [cap, setCap] = useState<Cap | null | undefined>(undefined);
  const [error, setError] = useState('');
  const [notice, setNotice] = useState('');
  const [watts, setWatts] = useState('');
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    let live = true;
    setCap(undefined);
    setError('');
    setNotice('');
    api<Cap>('GET', `/api/v1/sites/${encodeURIComponent(site)}/power-cap`).then(
      (c) => { if (!live) return; setCap(c); setWatts(String(c.capW)); },
      (e: unknown) => { if (!live) return; if (e instanceof ApiError && e.status === 404) { setCap(null); setWatts(''); } else setError((e as Error).message); },
    );
    return () => { live = false; };
  }, [site]);
  const path = `/api/v1/sites/${encodeURIComponent(site)}/power-cap`;
  const act = async (fn: () => Promise<void>): Promise<void> => {
    setBusy(true);
    setError('');
    setNotice('');
    try { await fn(); } catch (e) { setError((e as Error).message); } finally { setBusy(false); }
  };
  const save = (e: Event): void => {
    e.preventDefault();
    // Whole watts only, as the API takes them: "22kW" would hide a unit mistake.
    if (!/^[0-9]+$/.test(watts.trim())) { setError(`${t('capW')}: "${watts}"`); return; }
    void act(async () => { setCap(await api<Cap>('PUT', path, { capW: Number(watts.trim()) })); });
  };
  const remove = (): void => {
    if (!window.confirm(t('confirmRemoveCap'))) return;
    void act(async () => { await api('DELETE', path); setCap(null); setWatts(''); setNotice(t('capRemoved')); });
  };
  if (cap === undefined && !error) return null;
  return (
    <section class="site-cap" aria-labelledby="site-cap-title">
      <h2 id="site-cap-title">{t('powerCap')} — {site}</h2>
      {error ? <p role="alert" class="error">{t('error')}: {error}</p> : null}
      {notice ? <p role="status">{notice}</p> : null}
      <form class="cap-form" onSubmit={save}>
        <label>{t('capW')} <input inputMode="numeric" value={watts} onInput={(e) => setWatts((e.target as HTMLInputElement).value)} required /></label>
        <button type="submit" disabled={busy}>{t('setCap')}</button>
        {cap ? <button type="button" disabled={busy} onClick={remove}>{t('removeCap')}</button> : null}
      </form>
      {cap === null ? <p>{t('noPowerCap')}</p> : cap === undefined ? null : (
        <>
          <p><span data-cap-w={cap.capW}>{cap.capW.toLocaleString()} W</span> · {t('sentBy')} {cap.updatedBy} · {time(cap.updatedAt)}</p>
          <table>
            <thead><tr><th scope="col">{t('id')}</th><th scope="col">{t('status')}</th><th scope="col">{t('share')}</th><th scope="col">{t('confirmation')}</th></tr></thead>
            <tbody>{cap.chargers.map((c) => (
              <tr key={c.deviceId}><td>{c.deviceId}</td><td>{t(c.online ? 'online' : 'offline')}</td><td>{c.limitW === null ? '—' : `${c.limitW.toLocaleString()} W`}</td><td>{c.commandStatus ?? '—'}</td></tr>
            ))}</tbody>
          </table>
        </>
      )}
    </section>
  );
}
