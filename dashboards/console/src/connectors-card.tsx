import { useEffect, useState } from 'preact/hooks';
import { FIELD_LABELS, formatField } from '@yulan/protos/labels';
import { api, qs, type Telemetry } from './api.js';
import { EDGE_MAX_POINTS } from './chart.js';
import { pick, useI18n } from './i18n.js';

const SHOWN = ['status', 'power_w', 'current_a', 'energy_kwh', 'soc_pct', 'meter_kwh'] as const;
const HOUR_MS = 3_600_000;

interface ConnectorRow { ts: number; fields: Record<string, number> }
type Live = { ts: number; fields: Record<string, number> } | null;

/**
 * One row per connector of a charger. A charger's readings are per connector (an OCPP
 * charger reports each connector on its own), so the live card shows only whichever
 * connector spoke last; this keeps the newest reading of each. Seeded from the last
 * hour (a charger reports every connector at least once per heartbeat, ≤ 5 min), then
 * updated by the page's live readings.
 */
export function ConnectorsCard({ deviceId, live }: { deviceId: string; live: Live }) {
  const { t, lang, time } = useI18n();
  const [rows, setRows] = useState<Map<number, ConnectorRow>>(new Map());

  const merge = (points: ConnectorRow[]) => setRows((prev) => {
    const next = new Map(prev);
    for (const p of points) {
      const c = p.fields.connector_id;
      if (typeof c !== 'number') continue;
      const cur = next.get(c);
      if (!cur || cur.ts <= p.ts) next.set(c, p);
    }
    return next;
  });

  useEffect(() => {
    setRows(new Map());
    const to = Date.now();
    void api<Telemetry>('GET', `/api/v1/devices/${encodeURIComponent(deviceId)}/telemetry?${qs({ from: to - HOUR_MS, to, resolution: 'raw', fields: ['connector_id', ...SHOWN].join(','), limit: EDGE_MAX_POINTS })}`)
      .then((r) => merge(r.points.map((p) => ({ ts: p.ts, fields: numeric(p.fields) }))), () => undefined);
  }, [deviceId]);
  useEffect(() => { if (live) merge([live]); }, [live]);

  const list = [...rows.entries()].sort((a, b) => a[0] - b[0]);
  // The table scrolls sideways on a narrow screen: its region takes focus so keys can scroll
  // it, and is the card's one landmark (the section is not labelled, or the name would repeat).
  return (
    <section class="card connectors">
      <h2 id="connectors-title">{t('connectors')}</h2>
      {list.length === 0 ? <p>{t('noData')}</p> : (
        <div class="table-scroll" tabIndex={0} role="region" aria-labelledby="connectors-title">
          <table>
            <thead><tr>
              <th scope="col">{pick(FIELD_LABELS.connector_id, lang, 'connector_id')}</th>
              {SHOWN.map((f) => <th key={f} scope="col">{pick(FIELD_LABELS[f], lang, f)}</th>)}
              <th scope="col">{t('lastSeen')}</th>
            </tr></thead>
            <tbody>{list.map(([c, r]) => (
              <tr key={c} data-connector={c} data-status={r.fields.status}>
                <th scope="row">{c}</th>
                {SHOWN.map((f) => <td key={f} data-field={f}>{r.fields[f] === undefined ? '—' : formatField(f, r.fields[f]!, lang)}</td>)}
                <td>{time(r.ts)}</td>
              </tr>
            ))}</tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function numeric(fields: Record<string, unknown>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(fields)) if (typeof v === 'number') out[k] = v;
  return out;
}
