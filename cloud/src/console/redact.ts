import type { FastifyRequest } from 'fastify';
import type { EdgeLatest } from '../edge-client.js';
import type { DeviceRecord } from '../repositories/device-repository.js';
import type { DeviceView } from '../schemas/devices.js';
import { redactFields, type HealthGate } from './health-gate.js';

/** The edge's latest values with health fields left out where the caller may not see them;
 * the removed names ride along in `redacted` (see withRedacted). */
export type RedactedLatest = EdgeLatest & { redacted?: string[] };

export async function redactLatest(
  gate: HealthGate, request: FastifyRequest, devices: readonly DeviceRecord[], latest: Record<string, EdgeLatest>,
): Promise<Record<string, RedactedLatest>> {
  const withData = devices.filter((d) => latest[d.id] !== undefined);
  const visible = await gate.visible(request.principal, withData);
  const out: Record<string, RedactedLatest> = { ...latest };
  for (const d of withData) {
    if (visible.has(d.id)) continue;
    const e = latest[d.id]!;
    const { fields, redacted } = redactFields(d.kind, e.fields);
    if (redacted.length > 0) out[d.id] = { ...e, fields, redacted };
  }
  return out;
}

export function withRedacted(view: DeviceView, latest: RedactedLatest | undefined): DeviceView {
  if (!view.lastValues || !latest?.redacted) return view;
  return { ...view, lastValues: { ...view.lastValues, redacted: latest.redacted } };
}

/** Telemetry points (raw numbers or 1-minute aggregates) with health fields left out. */
export async function redactPoints<P extends { fields: Record<string, unknown> }>(
  gate: HealthGate, request: FastifyRequest, device: DeviceRecord, points: P[],
): Promise<{ points: P[]; redacted: string[] }> {
  const visible = await gate.visible(request.principal, [device]);
  if (visible.has(device.id)) return { points, redacted: [] };
  const names = new Set<string>();
  const out = points.map((p) => {
    const { fields, redacted } = redactFields(device.kind, p.fields);
    for (const r of redacted) names.add(r);
    return { ...p, fields };
  });
  return { points: out, redacted: [...names] };
}
