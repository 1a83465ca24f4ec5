import { useEffect, useState } from 'preact/hooks';
import { FIELD_LABELS } from '@yulan/protos/labels';
import { api, ApiError, type Command, type Twin } from './api.js';
import type { Schema } from './catalog.js';
import { pick, useI18n } from './i18n.js';

const FINAL = new Set(['succeeded', 'failed', 'timed_out', 'expired']);

/** Desired / reported / delta of the twin, each setting editable within the catalogue's
 * range; saves are guarded by the desired version (If-Match), so two operators editing
 * at once cannot overwrite each other silently. */
export function TwinCard({ deviceId, schema, twin, onSaved }: { deviceId: string; schema: Schema | undefined; twin: Twin | null; onSaved: (t: Twin) => void }) {
  const { t, lang } = useI18n();
  const [message, setMessage] = useState('');
  const keys = Object.keys(schema?.properties ?? {});
  const save = async (e: Event) => {
    e.preventDefault();
    if (!twin) return;
    const form = new FormData(e.currentTarget as HTMLFormElement);
    const settings: Record<string, number | null> = {};
    for (const k of keys) {
      const v = String(form.get(k) ?? '').trim();
      const cur = twin.desired.settings[k];
      if (v === '' && cur !== undefined) settings[k] = null;
      else if (v !== '' && Number(v) !== cur) settings[k] = Number(v);
    }
    if (Object.keys(settings).length === 0) return;
    try {
      const next = await api<Twin>('PUT', `/api/v1/devices/${encodeURIComponent(deviceId)}/twin/desired`, { settings }, { 'if-match': `"${twin.desired.version}"` });
      setMessage(`${t('saved')} ${next.desired.version}`);
      onSaved(next);
    } catch (err) {
      setMessage(`${t('error')}: ${err instanceof ApiError ? err.message : String(err)}`);
    }
  };
  return (
    <section class="card" aria-labelledby="twin-title">
      <h2 id="twin-title">{t('twin')} {twin ? <span class={`badge ${twin.inSync ? 'online' : 'offline'}`}>{twin.inSync ? t('inSync') : t('pending')}</span> : null}</h2>
      <form onSubmit={save}>
        <table>
          <thead><tr><th scope="col">{t('field')}</th><th scope="col">{t('desired')}</th><th scope="col">{t('reported')}</th></tr></thead>
          <tbody>{keys.map((k) => {
            const p = schema!.properties![k]!;
            const l = FIELD_LABELS[k];
            return (
              <tr key={k}>
                <th scope="row"><label for={`twin-${k}`}>{pick(l, lang, k)}{l?.unit ? ` (${l.unit})` : ''}</label></th>
                {/* Uncontrolled, re-keyed per desired version: live updates re-render the page
                    often and must not wipe what the operator is typing. */}
                <td><input key={`${k}@${twin?.desired.version ?? -1}`} id={`twin-${k}`} name={k} type="number" inputMode="decimal" step={p.type === 'integer' ? 1 : 'any'}
                  min={p.minimum} max={p.maximum} defaultValue={String(twin?.desired.settings[k] ?? '')} /></td>
                <td>{twin?.reported.settings[k] ?? '—'}</td>
              </tr>
            );
          })}</tbody>
        </table>
        <button type="submit" disabled={!twin}>{t('save')}</button>
        <p role="status" class="hint">{message}{twin ? ` · v${twin.desired.version} → ${twin.reported.appliedVersion}` : ''}</p>
      </form>
    </section>
  );
}

/** `required`: the catalogue's required arguments; an optional one left blank is not sent. */
function ArgInput({ id, name, s, required }: { id: string; name: string; s: Schema; required: boolean }) {
  const choices = s.anyOf?.map((a) => a.const).filter((c) => c !== undefined);
  if (choices && choices.length > 0) return <select id={id} name={name}>{choices.map((c) => <option key={String(c)} value={String(c)}>{String(c)}</option>)}</select>;
  if (s.type === 'boolean') return <select id={id} name={name}><option value="true">true</option><option value="false">false</option></select>;
  if (s.type === 'integer' || s.type === 'number') return <input id={id} name={name} type="number" required={required} min={s.minimum} max={s.maximum} step={s.type === 'integer' ? 1 : 'any'} />;
  return <input id={id} name={name} required={required} />;
}

/** Typed command buttons from the catalogue; each send is followed to its confirmed
 * result (long-poll on GET /commands/:id?wait=), transitions listed as they happen. */
export function CommandsCard({ deviceId, commands, refresh }: { deviceId: string; commands: Record<string, Schema>; refresh: number }) {
  const { t, time } = useI18n();
  const [recent, setRecent] = useState<Command[]>([]);
  const [error, setError] = useState('');
  // Sent by campaigns and by the site power cap, not by hand.
  const names = Object.entries(commands).filter(([, c]) => c['x-sent-by'] === undefined).map(([n]) => n);
  const load = () => api<{ items: Command[] }>('GET', `/api/v1/devices/${encodeURIComponent(deviceId)}/commands?limit=8`).then((r) => setRecent(r.items), () => undefined);
  useEffect(() => { void load(); }, [deviceId, refresh]);

  const follow = async (c: Command) => {
    let cur = c;
    while (!FINAL.has(cur.status)) {
      cur = await api<Command>('GET', `/api/v1/commands/${cur.id}?wait=20`);
      setRecent((xs) => [cur, ...xs.filter((x) => x.id !== cur.id)]);
    }
  };
  const send = (name: string) => async (e: Event) => {
    e.preventDefault();
    setError('');
    const args: Record<string, string | number | boolean> = {};
    for (const [k, v] of new FormData(e.currentTarget as HTMLFormElement)) if (String(v) !== '') args[k] = String(v);
    try {
      const c = await api<Command>('POST', `/api/v1/devices/${encodeURIComponent(deviceId)}/commands`, { name, args }, { 'idempotency-key': crypto.randomUUID() });
      setRecent((xs) => [c, ...xs.filter((x) => x.id !== c.id)]);
      await follow(c);
    } catch (err) {
      setError(`${t('error')}: ${err instanceof ApiError ? err.message : String(err)}`);
    }
  };
  return (
    <section class="card" aria-labelledby="cmd-title">
      <h2 id="cmd-title">{t('commands')}</h2>
      <div class="commands">{names.map((n) => {
        const props = commands[n]?.properties ?? {};
        const required = new Set(commands[n]?.required ?? []);
        return (
          <form key={n} class="command" onSubmit={send(n)} aria-label={n}>
            {Object.entries(props).map(([k, s]) => (
              <label key={k} for={`arg-${n}-${k}`}>{k}<ArgInput id={`arg-${n}-${k}`} name={k} s={s} required={required.has(k)} /></label>
            ))}
            <button type="submit">{n}</button>
          </form>
        );
      })}</div>
      <p class="error" role="alert">{error}</p>
      <ol class="lifecycle" aria-live="polite">{recent.map((c) => (
        <li key={c.id} data-command={c.name} data-status={c.status}>
          <strong>{c.name}</strong> <span class={`badge ${c.status}`}>{c.status}</span>
          {' '}{c.transitions.map((x) => x.status).join(' → ')} · {time(c.createdAt)}{c.requestedBy ? ` · ${t('sentBy')} ${c.requestedBy}` : ''}
          {c.message ? ` · ${c.message}` : ''}
          {/* the device's answer, e.g. the reservation_id a cancel names */}
          {Object.keys(c.output).length > 0 ? <span class="output"> · {Object.entries(c.output).map(([k, v]) => `${k}=${v}`).join(' ')}</span> : null}
        </li>
      ))}</ol>
    </section>
  );
}
