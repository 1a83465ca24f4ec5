import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, qs, type Get } from './api.js';
import { useI18n } from './i18n.js';

type Timeline = Get<'/api/v1/devices/{id}/presence'>;
type FwHistory = Get<'/api/v1/devices/{id}/firmware-history'>;
const RANGES = [['h1', 3_600_000], ['h24', 86_400_000], ['d7', 7 * 86_400_000], ['d30', 30 * 86_400_000]] as const;
/** Intervals listed in the table (newest first); the bar shows all. */
const LISTED = 20;

/** Online/offline intervals over a chosen period: a bar for the eye, a table for everyone
 * (the bar is hidden from assistive technology; the table says the same). Reloads when the
 * device's presence changes (`presence` over the console's SSE). */
export function PresenceCard({ deviceId, tick }: { deviceId: string; tick: number }) {
  const { t, time } = useI18n();
  const [range, setRange] = useState<(typeof RANGES)[number][0]>('h24');
  const [tl, setTl] = useState<Timeline | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    const span = RANGES.find((r) => r[0] === range)![1];
    const to = Date.now();
    setError('');
    api<Timeline>('GET', `/api/v1/devices/${encodeURIComponent(deviceId)}/presence?${qs({ from: to - span, to })}`)
      .then(setTl, (e: unknown) => { setTl(null); setError(e instanceof ApiError ? e.message : String(e)); });
  }, [deviceId, range, tick]);

  const span = tl ? tl.to - tl.from : 1;
  const label = (s: string) => (s === 'online' ? t('online') : s === 'offline' ? t('offline') : t('unknown'));
  const pct = (ms: number) => `${Math.round((1000 * ms) / span) / 10}%`;
  return (
    <section class="card" aria-labelledby="presence-title">
      <h2 id="presence-title">{t('presence')}</h2>
      <fieldset class="range">
        <legend>{t('presenceRange')}</legend>
        {RANGES.map(([k]) => <button key={k} type="button" class="ghost" aria-pressed={range === k} onClick={() => setRange(k)}>{t(k)}</button>)}
      </fieldset>
      {error ? <p role="alert" class="error">{error}</p> : null}
      {tl ? (
        <>
          <p class="hint" data-online-ms={tl.totals.online} data-changes={tl.changes}>
            {pct(tl.totals.online)} {t('onlineShare')} · {tl.changes} {t('changes')}
            {tl.totals.unknown > 0 ? ` · ${pct(tl.totals.unknown)} ${t('unknown')}` : ''}
          </p>
          <div class="timeline" aria-hidden="true">
            {tl.intervals.map((i) => <span key={i.from} class={`seg ${i.state}`} style={{ width: `${(100 * (i.to - i.from)) / span}%` }} />)}
          </div>
          <div class="axis" aria-hidden="true"><span>{time(tl.from)}</span><span>{time(tl.to)}</span></div>
          {tl.truncated ? <p class="warning">{t('truncated')}</p> : null}
          <details>
            <summary>{t('intervals')} ({tl.intervals.length})</summary>
            <table class="list">
              <thead><tr><th scope="col">{t('state')}</th><th scope="col">{t('from')}</th><th scope="col">{t('to')}</th><th scope="col">{t('reason')}</th></tr></thead>
              <tbody>{[...tl.intervals].reverse().slice(0, LISTED).map((i) => (
                <tr key={i.from} data-state={i.state}><td><span class={`badge ${i.state}`}>{label(i.state)}</span></td><td>{time(i.from)}</td><td>{time(i.to)}</td><td>{i.reason}</td></tr>
              ))}</tbody>
            </table>
          </details>
        </>
      ) : error ? null : <p>{t('loading')}</p>}
    </section>
  );
}

/** Versions the device announced over time, and the campaigns that targeted it. */
export function FirmwareHistoryCard({ deviceId, tick }: { deviceId: string; tick: number }) {
  const { t, time } = useI18n();
  const [h, setH] = useState<FwHistory | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    api<FwHistory>('GET', `/api/v1/devices/${encodeURIComponent(deviceId)}/firmware-history`)
      .then(setH, (e: unknown) => setError(e instanceof ApiError ? e.message : String(e)));
  }, [deviceId, tick]);
  return (
    <section class="card" aria-labelledby="fwh-title">
      <h2 id="fwh-title">{t('fwHistory')} {h ? <span class="sub">{t('current')}: {h.current ?? '—'}</span> : null}</h2>
      {error ? <p role="alert" class="error">{error}</p> : null}
      {h && !h.edgeAvailable ? <p class="warning">{t('edgeDown')}</p> : null}
      {h ? (
        <>
          <h3>{t('installedVersions')}</h3>
          {h.versions.length === 0 ? <p>{t('none')}</p> : (
            <ol class="versions">{[...h.versions].reverse().map((v) => (
              <li key={`${v.version}-${v.since}`} data-version={v.version}><strong>{v.version}</strong> · {t('since')} {time(v.since)}</li>
            ))}</ol>
          )}
          <h3>{t('campaigns')}</h3>
          {h.campaigns.length === 0 ? <p>{t('none')}</p> : (
            <table class="list">
              <thead><tr><th scope="col">{t('campaign')}</th><th scope="col">{t('version')}</th><th scope="col">{t('state')}</th><th scope="col">{t('installedAt')}</th><th scope="col">{t('result')}</th></tr></thead>
              <tbody>{h.campaigns.map((c) => (
                <tr key={c.campaignId} data-campaign={c.campaignId}>
                  <td>{c.campaignId}</td><td>{c.version ?? c.firmwareId}</td><td><span class={`badge ${c.status}`}>{c.status}</span></td>
                  <td>{time(c.installedAt)}</td><td>{c.reason ?? ''}</td>
                </tr>
              ))}</tbody>
            </table>
          )}
        </>
      ) : error ? null : <p>{t('loading')}</p>}
    </section>
  );
}
