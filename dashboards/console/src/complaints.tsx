import { useEffect, useState } from 'preact/hooks';
import { FIELD_LABELS, formatField } from '@yulan/protos/labels';
import { api, ApiError, qs } from './api.js';
import { pick, useI18n } from './i18n.js';

/** `/api/v1/complaints` has no response schema in the OpenAPI document: its shape, here. */
interface Complaint {
  id: string; site: string; kind: string; createdAt: string; status: 'open' | 'closed'; closedAt: string | null; resolution: string | null;
  hasContact: boolean; contact?: string;
  evidence: { at?: string; monitors?: Record<string, { ts: string; fields: Record<string, number> } | null>; error?: string };
}
interface AuditRow { at: number; actor: string; action: string; detail: string }

const KIND: Record<string, { en: string; zh: string }> = {
  smoke: { en: 'Smoke', zh: '烟雾' }, smell: { en: 'Smell', zh: '异味' }, dust: { en: 'Dust', zh: '扬尘' }, noise: { en: 'Noise', zh: '噪声' },
};

/** Residents' one-tap complaints (issue 14): newest first; a complaint's evidence; its
 * contact revealed only with a reason (the cloud audits it under the person's id); close
 * with a resolution the reporter sees on their receipt. */
export function Complaints() {
  const { t, lang, time } = useI18n();
  const [status, setStatus] = useState<'open' | 'closed' | ''>('open');
  const [items, setItems] = useState<Complaint[] | null>(null);
  const [open, setOpen] = useState<Complaint | null>(null);
  const [audit, setAudit] = useState<AuditRow[]>([]);
  const [message, setMessage] = useState('');
  const fail = (e: unknown) => setMessage(`${t('error')}: ${e instanceof ApiError ? e.message : String(e)}`);
  const load = () => api<{ items: Complaint[] }>('GET', `/api/v1/complaints?${qs({ status, limit: 200 })}`).then((r) => setItems(r.items), fail);
  useEffect(() => { void load(); }, [status]);
  const path = (id: string) => `/api/v1/complaints/${encodeURIComponent(id)}`;
  const show = async (id: string, extra: Record<string, string> = {}) => {
    try {
      setOpen(await api<Complaint>('GET', `${path(id)}?${qs(extra)}`));
      setAudit((await api<{ items: AuditRow[] }>('GET', `${path(id)}/audit`)).items);
    } catch (e) {
      fail(e);
    }
  };
  const reveal = (e: Event) => {
    e.preventDefault();
    const reason = String(new FormData(e.currentTarget as HTMLFormElement).get('reason') ?? '').trim();
    if (open) void show(open.id, { contact: 'true', reason });
  };
  const close = async (e: Event) => {
    e.preventDefault();
    if (!open) return;
    const resolution = String(new FormData(e.currentTarget as HTMLFormElement).get('resolution') ?? '').trim();
    try {
      await api('POST', `${path(open.id)}/close`, { resolution });
      setMessage(`${open.id}: ${t('closed')}`);
      // the list first: once the card says Closed, the open list no longer shows it
      await load();
      await show(open.id);
    } catch (x) {
      fail(x);
    }
  };
  const label = (k: string) => pick(KIND[k], lang, k);

  return (
    <section aria-labelledby="complaints-title">
      <h1 id="complaints-title">{t('complaints')}</h1>
      <p role="status" class="hint">{message}</p>
      <div class="filters">
        <label>{t('status')}<select value={status} onChange={(e) => setStatus((e.currentTarget as HTMLSelectElement).value as typeof status)}>
          <option value="open">{t('open')}</option><option value="closed">{t('closed')}</option><option value="">{t('any')}</option>
        </select></label>
      </div>
      {items === null ? <p>{t('loading')}</p> : items.length === 0 ? <p>{t('none')}</p> : (
        <div class="table-scroll"><table class="list">
          <thead><tr><th scope="col">ID</th><th scope="col">{t('site')}</th><th scope="col">{t('complaintKind')}</th><th scope="col">{t('reportedAt')}</th><th scope="col">{t('state')}</th><th scope="col">{t('contact')}</th></tr></thead>
          <tbody>{items.map((c) => (
            <tr key={c.id} data-complaint={c.id} data-status={c.status}>
              <td><button type="button" class="link" aria-expanded={open?.id === c.id} onClick={() => (open?.id === c.id ? setOpen(null) : void show(c.id))}>{c.id}</button></td>
              <td>{c.site}</td><td>{label(c.kind)}</td><td>{time(c.createdAt)}</td>
              <td><span class={`badge ${c.status === 'open' ? 'offline' : 'online'}`}>{c.status === 'open' ? t('open') : t('closed')}</span></td>
              <td>{c.hasContact ? t('onFile') : t('noContact')}</td>
            </tr>
          ))}</tbody>
        </table></div>
      )}
      {open ? (
        <section class="card" aria-labelledby="complaint-title" data-open-complaint={open.id}>
          <h2 id="complaint-title">{open.id} · {open.site} · {label(open.kind)}</h2>
          <p>{t('reportedAt')} {time(open.createdAt)} · {open.status === 'open' ? t('open') : `${t('closed')} ${time(open.closedAt)}: ${open.resolution ?? ''}`}</p>
          <h3>{t('evidence')}</h3>
          {open.evidence.error ? <p class="warning">{open.evidence.error}</p> : null}
          <ul class="evidence">{Object.entries(open.evidence.monitors ?? {}).map(([id, r]) => (
            <li key={id}><strong>{id}</strong>{r ? <> · {time(r.ts)} · {Object.entries(r.fields).map(([k, v]) => `${pick(FIELD_LABELS[k], lang, k)} ${formatField(k, v, lang)}`).join(', ')}</> : ` · ${t('noReading')}`}</li>
          ))}</ul>
          <h3>{t('contact')}</h3>
          {open.contact !== undefined ? <p data-contact><code>{open.contact}</code></p>
            : !open.hasContact ? <p>{t('noContact')}</p> : (
              <form class="row-form" onSubmit={reveal}>
                <label>{t('revealReason')}<input name="reason" required minLength={3} maxLength={200} /></label>
                <button type="submit">{t('reveal')}</button>
              </form>
            )}
          {open.status === 'open' ? (
            <form class="row-form" onSubmit={close}>
              <label>{t('closeNote')}<input name="resolution" required maxLength={500} size={40} /></label>
              <button type="submit">{t('close')}</button>
            </form>
          ) : null}
          <h3>{t('audit')}</h3>
          {audit.length === 0 ? <p>{t('none')}</p> : (
            <table class="list">
              <thead><tr><th scope="col">{t('at')}</th><th scope="col">{t('actor')}</th><th scope="col">{t('action')}</th><th scope="col">{t('details')}</th></tr></thead>
              <tbody>{audit.map((a) => <tr key={`${a.at}-${a.action}`}><td>{time(a.at)}</td><td>{a.actor}</td><td>{a.action}</td><td>{a.detail}</td></tr>)}</tbody>
            </table>
          )}
        </section>
      ) : null}
    </section>
  );
}
