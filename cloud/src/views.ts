import type { EdgeLatest } from './edge-client.js';
import type { DeviceRecord } from './repositories/device-repository.js';
import type { DeviceView } from './schemas/devices.js';

const iso = (ms: number): string => new Date(ms).toISOString();

/** Registry record + the edge's newest reading → the API's device view. The edge sees
 * telemetry the registry does not, so its timestamp can make lastSeen fresher. */
export function toDeviceView(d: DeviceRecord, latest?: EdgeLatest): DeviceView {
  const seen = Math.max(d.lastSeen ?? -Infinity, latest && Number.isFinite(latest.ts) ? latest.ts : -Infinity);
  return {
    id: d.id,
    site: d.site,
    kind: d.kind,
    name: d.name,
    status: d.status,
    lastSeen: Number.isFinite(seen) ? iso(seen) : null,
    firmwareVersion: d.firmwareVersion,
    firmwareUpdates: d.firmwareUpdates,
    createdAt: iso(d.createdAt),
    lastValues: latest ? { ts: iso(latest.ts), fields: latest.fields, text: latest.text ?? {} } : null,
  };
}
