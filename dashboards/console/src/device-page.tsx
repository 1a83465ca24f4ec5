import { useEffect, useState } from 'preact/hooks';
import { FIELD_LABELS, KIND_FIELDS, KIND_LABELS, STATUS_LABELS, formatField } from '@yulan/protos/labels';
import { api, ApiError, qs, type Device, type Events, type Twin } from './api.js';
import { catalog, type Catalog } from './catalog.js';
import { HistoryChart } from './chart.js';
import { CommandsCard, TwinCard } from './control.js';
import { ConnectorsCard } from './connectors-card.js';
import { DiagnosticsCard } from './diagnostics-card.js';
import { pick, useI18n } from './i18n.js';
import { useLive } from './live.js';
import { FirmwareHistoryCard, PresenceCard } from './presence-card.js';

type Ev = Events['events'][number];

export function DevicePage({ id, role }: { id: string; role: string }) {
  const { t, lang, time } = useI18n();
  const [device, setDevice] = useState<Device | null>(null);
  const [error, setError] = useState('');
  const [cat, setCat] = useState<Catalog | null>(null);
  const [twin, setTwin] = useState<Twin | null>(null);
  const [events, setEvents] = useState<Ev[]>([]);
  const [live, setLive] = useState<{ ts: number; fields: Record<string, number>; redacted?: string[] } | null>(null);
  const [cmdTick, setCmdTick] = useState(0);
  const [newSecret, setNewSecret] = useState('');
  const [presenceTick, setPresenceTick] = useState(0);
  const enc = encodeURIComponent(id);

  const loadTwin = () => api<Twin>('GET', `/api/v1/devices/${enc}/twin`).then(setTwin, () => undefined);
  useEffect(() => {
    setDevice(null);
    setError('');
    api<Device>('GET', `/api/v1/devices/${enc}`).then(setDevice, (e: unknown) => setError(e instanceof ApiError ? e.message : String(e)));
    catalog().then(setCat, () => undefined);
    void loadTwin();
    api<Events>('GET', `/api/v1/devices/${enc}/events?${qs({ from: Date.now() - 86_400_000, limit: 50 })}`).then((r) => setEvents(r.events.slice(-50).reverse()), () => undefined);
    document.getElementById('device-title')?.focus();
  }, [id]);

  useLive(id, {
    telemetry: (d) => setLive(d as { ts: number; fields: Record<string, number>; redacted?: string[] }),
    event: (d) => setEvents((xs) => [d as Ev, ...xs].slice(0, 50)),
    twin: () => void loadTwin(),
    command: () => setCmdTick((n) => n + 1),
    presence: (batch) => { if ((batch as { deviceId: string }[]).some((p) => p.deviceId === id)) setPresenceTick((n) => n + 1); },
  });

  const setDisabled = async (disabled: boolean) => {
    try {
      setDevice(await api<Device>('POST', `/api/v1/devices/${enc}/${disabled ? 'disable' : 'enable'}`));
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    }
  };

  const rotate = async () => {
    if (!confirm(t('rotateConfirm'))) return;
    try {
      const r = await api<{ device: Device; secret: string }>('POST', `/api/v1/devices/${enc}/rotate-secret`);
      setNewSecret(r.secret);
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    }
  };

  if (error && !device) return <section><a href="#/fleet">{t('back')}</a><p role="alert" class="error">{error}</p></section>;
  if (!device) return <p role="status">{t('loading')}</p>;
  const values = live ?? (device.lastValues ? { ts: Date.parse(device.lastValues.ts), fields: device.lastValues.fields, redacted: device.lastValues.redacted } : null);
  // Chartable: the kind's measured quantities (not flags or enums), health fields only when shown.
  const hidden = new Set(values?.redacted ?? []);
  const numericFields = KIND_FIELDS[device.kind].filter((f) => !FIELD_LABELS[f]?.boolean && !FIELD_LABELS[f]?.values && !hidden.has(f) && f !== 'connector_id');

  return (
    <section aria-labelledby="device-title">
      <a href="#/fleet">{t('back')}</a>
      <h1 id="device-title" tabIndex={-1}>{device.id} {device.name ? <span class="sub">{device.name}</span> : null}</h1>
      <p class="meta">
        <span class={`badge ${device.status}`}>{pick(STATUS_LABELS[device.status], lang, device.status)}</span>
        {' '}{pick(KIND_LABELS[device.kind], lang, device.kind)} · {t('site')} {device.site} · {t('firmwareVersion')} {device.firmwareVersion ?? '—'} · {t('lastSeen')} {time(device.lastSeen)}
        {role === 'admin' ? (
          <>
            <button type="button" class="ghost" onClick={() => setDisabled(device.status !== 'disabled')}>{device.status === 'disabled' ? t('enable') : t('disable')}</button>
            <button type="button" class="ghost" onClick={rotate}>{t('rotate')}</button>
          </>
        ) : null}
      </p>
      {newSecret ? <p role="alert" class="secret">{t('newSecret')} <code>{newSecret}</code></p> : null}
      {error ? <p role="alert" class="error">{error}</p> : null}
      <div class="cols">
        <section class="card" aria-labelledby="live-title">
          <h2 id="live-title">{t('live')} {values ? <span class="sub">{time(values.ts)}</span> : null}</h2>
          {values ? (
            <dl class="values" data-ts={values.ts}>{Object.entries(values.fields).map(([k, v]) => (
              <div key={k}><dt>{pick(FIELD_LABELS[k], lang, k)}</dt><dd data-field={k}>{formatField(k, v, lang)}</dd></div>
            ))}</dl>
          ) : <p>{t('noData')}</p>}
          {values?.redacted?.length ? <p class="hint" role="note">{t('redacted')}</p> : null}
        </section>
        <HistoryChart deviceId={device.id} fields={numericFields} live={live} />
      </div>
      {device.kind === 'ev-charger' ? <ConnectorsCard deviceId={device.id} live={live} /> : null}
      {device.kind === 'ev-charger' ? <DiagnosticsCard deviceId={device.id} tick={events.filter((e) => e.type === 'diagnostics.stored').length} /> : null}
      <div class="cols">
        <TwinCard deviceId={device.id} schema={cat?.settings[device.kind]} twin={twin} onSaved={setTwin} />
        {cat ? <CommandsCard deviceId={device.id} commands={cat.commands[device.kind] ?? {}} refresh={cmdTick} /> : null}
      </div>
      <div class="cols">
        <PresenceCard deviceId={device.id} tick={presenceTick} />
        <FirmwareHistoryCard deviceId={device.id} tick={presenceTick} />
      </div>
      <section class="card" aria-labelledby="events-title">
        <h2 id="events-title">{t('events')} <span class="sub">({t('newest')})</span></h2>
        {events.length === 0 ? <p>{t('none')}</p> : (
          <ul class="events">{events.map((e, i) => (
            <li key={`${e.ts}-${i}`}><time>{time(e.ts)}</time> <strong>{e.type}</strong> {e.message}</li>
          ))}</ul>
        )}
      </section>
    </section>
  );
}
