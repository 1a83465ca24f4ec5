import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, type Campaigns, type Get } from './api.js';
import { useI18n } from './i18n.js';
import { FirmwareImages } from './firmware-upload.js';

type Campaign = Campaigns['items'][number];
type Rollouts = Get<'/api/v1/campaigns/{id}/devices'>;
/** Share of the campaign's devices, e.g. "12.5%"; "—" for a campaign with no devices. */
const rate = (n: number | undefined, of: number): string => (of > 0 ? `${Math.round((1000 * (n ?? 0)) / of) / 10}%` : '—');

/** Campaigns with their stages and per-device status; pause, resume and abort. */
export function Firmware() {
  const { t, time } = useI18n();
  const [items, setItems] = useState<Campaign[] | null>(null);
  const [open, setOpen] = useState<string | null>(null);
  const [devices, setDevices] = useState<Rollouts | null>(null);
  const [message, setMessage] = useState('');
  // A poll answered after a pause/resume/abort may have been read before it: only the
  // newest read or action sets the rows, so a row never flips back to its old state.
  const seq = useRef(0);
  const load = () => {
    const mine = ++seq.current;
    return api<Campaigns>('GET', '/api/v1/campaigns').then((r) => { if (mine === seq.current) setItems(r.items); }, (e: unknown) => setMessage(e instanceof ApiError ? e.message : String(e)));
  };
  useEffect(() => {
    void load();
    const h = setInterval(load, 5000);
    return () => clearInterval(h);
  }, []);
  useEffect(() => {
    if (open) void api<Rollouts>('GET', `/api/v1/campaigns/${encodeURIComponent(open)}/devices?limit=50`).then(setDevices, () => setDevices(null));
  }, [open, items]);

  const act = (c: Campaign, action: 'pause' | 'resume' | 'abort') => async () => {
    try {
      const next = await api<Campaign>('POST', `/api/v1/campaigns/${encodeURIComponent(c.id)}/${action}`);
      seq.current++;
      setItems((xs) => (xs ?? []).map((x) => (x.id === next.id ? next : x)));
      setMessage(`${c.id}: ${next.status}`);
    } catch (e) {
      setMessage(`${t('error')}: ${e instanceof ApiError ? e.message : String(e)}`);
    }
  };

  return (
    <section aria-labelledby="fw-title">
      <h1 id="fw-title">{t('campaigns')}</h1>
      <p role="status" class="hint">{message}</p>
      {items === null ? <p>{t('loading')}</p> : items.length === 0 ? <p>{t('none')}</p> : (
        <div class="table-scroll"><table class="list">
          <thead><tr>
            <th scope="col">ID</th><th scope="col">{t('firmware')}</th><th scope="col">{t('state')}</th><th scope="col">{t('stage')}</th>
            <th scope="col">{t('succeeded')}</th><th scope="col">{t('failed')}</th><th scope="col">{t('rates')}</th><th scope="col">{t('created')}</th><th scope="col"><span class="sr">{t('commands')}</span></th>
          </tr></thead>
          <tbody>{items.map((c) => (
            <tr key={c.id} data-campaign={c.id} data-status={c.status}>
              <td><button type="button" class="link" aria-expanded={open === c.id} onClick={() => setOpen(open === c.id ? null : c.id)}>{c.id}</button></td>
              <td>{c.firmwareId}</td>
              <td><span class={`badge ${c.status}`}>{c.status}</span>{c.reason ? ` · ${c.reason}` : ''}</td>
              <td>{c.stage} / {c.stages}</td>
              <td>{c.counts.succeeded ?? 0} / {c.devices}</td>
              <td>{c.counts.failed ?? 0}</td>
              <td data-rates>{rate(c.counts.succeeded, c.devices)} / {rate(c.counts.failed, c.devices)}</td>
              <td>{time(c.createdAt)}</td>
              <td><div class="actions">
                <button type="button" onClick={act(c, 'pause')} disabled={c.status !== 'running'}>{t('pause')}</button>
                <button type="button" onClick={act(c, 'resume')} disabled={c.status !== 'paused'}>{t('resume')}</button>
                <button type="button" class="danger" onClick={act(c, 'abort')} disabled={c.status === 'aborted' || c.status === 'completed'}>{t('abort')}</button>
              </div></td>
            </tr>
          ))}</tbody>
        </table></div>
      )}
      {open && devices ? (
        <section class="card" aria-label={`${open} ${t('devices')}`}>
          <h2>{open} · {t('devices')} ({devices.total})</h2>
          <table class="list">
            <thead><tr><th scope="col">{t('id')}</th><th scope="col">{t('stage')}</th><th scope="col">{t('state')}</th><th scope="col">{t('version')}</th><th scope="col">{t('result')}</th></tr></thead>
            <tbody>{devices.items.map((d) => (
              <tr key={d.deviceId}><td><a href={`#/device/${encodeURIComponent(d.deviceId)}`}>{d.deviceId}</a></td><td>{d.stage}</td><td>{d.status}</td><td>{d.version ?? '—'}</td><td>{d.reason ?? ''}</td></tr>
            ))}</tbody>
          </table>
        </section>
      ) : null}
      <FirmwareImages onCampaign={() => void load()} />
    </section>
  );
}
