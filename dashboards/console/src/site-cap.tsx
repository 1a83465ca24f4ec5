import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, type Get } from './api.js';
import { useI18n } from './i18n.js';

type Cap = Get<'/api/v1/sites/{id}/power-cap'>;

/** A site's power cap (docs/ocpp.md §4.1) and each charger's share in the last division,
 * shown under the fleet table while one site is picked. Read-only: it is set with the API
 * or `yulan site cap set`. */
export function SiteCap({ site }: { site: string }) {
  const { t, time } = useI18n();
  const [cap, setCap] = useState<Cap | null | undefined>(undefined);
  const [error, setError] = useState('');
  useEffect(() => {
    let live = true;
    setCap(undefined);
    setError('');
    api<Cap>('GET', `/api/v1/sites/${encodeURIComponent(site)}/power-cap`).then(
      (c) => { if (live) setCap(c); },
      (e: unknown) => { if (!live) return; if (e instanceof ApiError && e.status === 404) setCap(null); else setError((e as Error).message); },
    );
    return () => { live = false; };
  }, [site]);
  if (error) return <p role="alert">{t('error')}: {error}</p>;
  if (cap === undefined) return null;
  return (
    <section class="site-cap" aria-labelledby="site-cap-title">
      <h2 id="site-cap-title">{t('powerCap')} — {site}</h2>
      {cap === null ? <p>{t('noPowerCap')}</p> : (
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
