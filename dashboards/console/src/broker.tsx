import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, qs, type Get } from './api.js';
import { useI18n } from './i18n.js';

type Clients = Get<'/api/v1/broker/clients'>;
type Client = Clients['clients'][number];
type Subs = Get<'/api/v1/broker/clients/{id}/subscriptions'>;
type Retained = Get<'/api/v1/broker/retained'>;
type Counters = Record<string, unknown> & { connections?: { current: number; total: number } };

const PAGE = 50;
/** The counters shown, in this order; the full set is /api/v1/broker/counters. */
const COUNTERS = ['messagesIn', 'messagesOut', 'authFailures', 'aclDeniedPublish', 'droppedQos0', 'slowConsumerDisconnects', 'quotaRefused', 'bytesIn', 'bytesOut'] as const;

/** The broker view: connected clients (search, paging), a client's subscriptions,
 * disconnect with a confirmation, retained messages by filter, the broker's counters. */
export function Broker({ role }: { role: string }) {
  const { t, time } = useI18n();
  const [text, setText] = useState('');
  const [q, setQ] = useState('');
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState<Clients | null>(null);
  const [open, setOpen] = useState<string | null>(null);
  const [subs, setSubs] = useState<Subs | null>(null);
  const [filter, setFilter] = useState('#');
  const [retained, setRetained] = useState<Retained | null>(null);
  const [counters, setCounters] = useState<Counters | null>(null);
  const [message, setMessage] = useState('');
  const fail = (e: unknown) => setMessage(`${t('error')}: ${e instanceof ApiError ? e.message : String(e)}`);

  // Searches, pages and pushed reloads overlap: only the newest request's answer is shown,
  // so an older unfiltered list never replaces the results of the search typed after it.
  const seq = useRef(0);
  const loadClients = () => {
    const mine = ++seq.current;
    return api<Clients>('GET', `/api/v1/broker/clients?${qs({ q, limit: PAGE, offset })}`).then((p) => { if (mine === seq.current) setPage(p); }, fail);
  };
  const loadCounters = () => api<Counters>('GET', '/api/v1/broker/counters').then(setCounters, () => undefined);
  useEffect(() => {
    const h = setTimeout(() => { setQ(text.trim()); setOffset(0); }, 250);
    return () => clearTimeout(h);
  }, [text]);
  useEffect(() => { void loadClients(); }, [q, offset]);
  // Pushed by the broker (GET /api/v1/broker/live): the list is re-read when clients come
  // or go (batched once a second), counters arrive when they change. No timer.
  const reload = useRef(loadClients);
  reload.current = loadClients;
  useEffect(() => {
    void loadCounters();
    const es = new EventSource('/api/v1/broker/live');
    es.addEventListener('clients', () => void reload.current());
    es.addEventListener('counters', (e) => setCounters(JSON.parse((e as MessageEvent<string>).data) as Counters));
    es.addEventListener('end', () => { es.close(); window.dispatchEvent(new CustomEvent('yulan:signed-out')); });
    return () => es.close();
  }, []);
  useEffect(() => {
    setSubs(null);
    if (open) void api<Subs>('GET', `/api/v1/broker/clients/${encodeURIComponent(open)}/subscriptions`).then(setSubs, fail);
  }, [open]);
  const loadRetained = (e?: Event) => {
    e?.preventDefault();
    void api<Retained>('GET', `/api/v1/broker/retained?${qs({ filter, limit: 100 })}`).then(setRetained, fail);
  };
  useEffect(() => loadRetained(), []);

  const disconnect = (c: Client) => async () => {
    if (!confirm(`${t('disconnectConfirm')} ${c.id}`)) return;
    try {
      await api('POST', `/api/v1/broker/clients/${encodeURIComponent(c.id)}/disconnect`);
      setMessage(`${c.id}: ${t('disconnected')}`);
      if (open === c.id) setOpen(null);
      await loadClients();
    } catch (e) {
      fail(e);
    }
  };
  const mayDisconnect = role === 'admin' || role === 'operator';
  const num = (k: string): string => {
    const v = k === 'aclDeniedPublish' ? (counters?.aclDenied as { publish?: number } | undefined)?.publish : counters?.[k];
    return typeof v === 'number' ? v.toLocaleString() : '—';
  };

  return (
    <section aria-labelledby="broker-title">
      <h1 id="broker-title">{t('broker')}</h1>
      <p role="status" class="hint">{message}</p>
      <section class="card" aria-labelledby="broker-counters">
        <h2 id="broker-counters">{t('counters')}</h2>
        <dl class="counters">
          <div><dt>{t('connections')}</dt><dd>{counters?.connections ? `${counters.connections.current} / ${counters.connections.total}` : '—'}</dd></div>
          {COUNTERS.map((k) => <div key={k}><dt>{t(k)}</dt><dd data-counter={k}>{num(k)}</dd></div>)}
        </dl>
      </section>

      <section aria-labelledby="broker-clients">
        <h2 id="broker-clients">{t('clients')} {page ? `(${page.total})` : ''}</h2>
        <div class="filters">
          <label>{t('clientSearch')} <input type="search" value={text} onInput={(e) => setText((e.target as HTMLInputElement).value)} /></label>
        </div>
        {page === null ? <p>{t('loading')}</p> : page.clients.length === 0 ? <p>{t('none')}</p> : (
          <div class="table-scroll"><table class="list">
            <thead><tr>
              <th scope="col">{t('clientId')}</th><th scope="col">{t('username')}</th><th scope="col">{t('address')}</th>
              <th scope="col">{t('connectedSince')}</th><th scope="col">{t('lastActivity')}</th><th scope="col">{t('subscriptions')}</th>
              <th scope="col"><span class="sr">{t('commands')}</span></th>
            </tr></thead>
            <tbody>{page.clients.map((c) => (
              <tr key={c.id} data-client={c.id}>
                <td><button type="button" class="link" aria-expanded={open === c.id} onClick={() => setOpen(open === c.id ? null : c.id)}>{c.id}</button></td>
                <td>{c.username ?? '—'}</td>
                <td>{c.address ?? '—'}</td>
                <td>{time(c.connectedSince)}</td>
                <td>{time(c.lastActivity)}</td>
                <td>{c.subscriptions}</td>
                <td>{mayDisconnect ? <button type="button" class="danger" aria-label={`${t('disconnect')} ${c.id}`} onClick={disconnect(c)}>{t('disconnect')}</button> : null}</td>
              </tr>
            ))}</tbody>
          </table></div>
        )}
        {page && page.total > PAGE ? (
          <div class="actions">
            <button type="button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>←</button>
            <span>{t('page')} {Math.floor(offset / PAGE) + 1} {t('of')} {Math.ceil(page.total / PAGE)}</span>
            <button type="button" disabled={offset + PAGE >= page.total} onClick={() => setOffset(offset + PAGE)}>→</button>
          </div>
        ) : null}
      </section>

      {open && subs ? (
        <section class="card" aria-labelledby="broker-subs">
          <h2 id="broker-subs">{open} · {t('subscriptions')} ({subs.subscriptions.length})</h2>
          {subs.subscriptions.length === 0 ? <p>{t('none')}</p> : (
            <table class="list">
              <thead><tr><th scope="col">{t('topic')}</th><th scope="col">QoS</th></tr></thead>
              <tbody>{subs.subscriptions.map((s) => <tr key={s.topic}><td><code>{s.topic}</code></td><td>{s.qos}</td></tr>)}</tbody>
            </table>
          )}
        </section>
      ) : null}

      <section class="broker-retained" aria-labelledby="broker-retained">
        <h2 id="broker-retained">{t('retained')} {retained ? `(${retained.count} · ${retained.bytes.toLocaleString()} B)` : ''}</h2>
        <form class="filters" onSubmit={loadRetained}>
          <label>{t('topicFilter')} <input value={filter} onInput={(e) => setFilter((e.target as HTMLInputElement).value)} /></label>
          <button type="submit">{t('apply')}</button>
        </form>
        {retained === null ? null : retained.messages.length === 0 ? <p>{t('none')}</p> : (
          <div class="table-scroll"><table class="list">
            <thead><tr><th scope="col">{t('topic')}</th><th scope="col">QoS</th><th scope="col">{t('size')}</th><th scope="col">{t('payloadHex')}</th></tr></thead>
            <tbody>{retained.messages.map((m) => (
              <tr key={m.topic}>
                <td><code>{m.topic}</code></td><td>{m.qos}</td><td>{m.size} B</td>
                <td>{m.payloadHidden ? <em>{t('payloadHidden')}</em> : <code class="hex">{m.payloadHex}</code>}</td>
              </tr>
            ))}</tbody>
          </table></div>
        )}
      </section>
    </section>
  );
}
