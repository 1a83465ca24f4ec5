import { CareEvent, FallSource, type AlertEventRef, type AlertReport } from '@yulan/protos';
import { AlertLevel } from './model.js';

/**
 * Which device events an alert report brings that the cloud has not taken into account yet,
 * and what they mean for the people handling it (docs/care.md §3, "the invariant"). Pure.
 *
 * The edge merges repeated triggers into one alert for 30 minutes, and it cannot know that
 * the cloud's alert was resolved or claimed in the meantime: so the cloud looks at each
 * event itself. An event is "urgent" when, on its own, it would have paged someone: an SOS
 * press, a long lie, a wearable fall, or a fall with a fall id not seen before.
 */

/** How many event keys an alert remembers (reports carry the last 20 events). */
export const SEEN_EVENTS = 64;

/** Telemetry flags the edge turns into events (`telemetry.sos`, …). */
const SOS = new Set<string>([CareEvent.Sos, 'telemetry.sos']);
const LONG_LIE = new Set<string>([CareEvent.LongLie, 'telemetry.long_lie']);
const FALL = new Set<string>([CareEvent.FallDetected, 'telemetry.fall']);

export const eventKey = (e: AlertEventRef): string => `${e.seq}@${e.atMs}`;

export interface NewEvents {
  /** events not seen before, oldest first */
  events: AlertEventRef[];
  /** of those, the ones someone must be told about */
  urgent: AlertEventRef[];
  /** of those, the ones that start something new: an SOS, a long lie, a fall not seen before */
  opening: AlertEventRef[];
  /** the keys to remember after this report (bounded) */
  seen: string[];
  /** fall ids after this report (bounded) */
  fallIds: string[];
}

export function newEvents(report: AlertReport, seen: readonly string[], fallIds: readonly string[]): NewEvents {
  const known = new Set(seen);
  const falls = new Set(fallIds);
  const events: AlertEventRef[] = [];
  const urgent: AlertEventRef[] = [];
  const opening: AlertEventRef[] = [];
  for (const e of [...report.events].sort((a, b) => a.atMs - b.atMs || a.seq - b.seq)) {
    const key = eventKey(e);
    if (known.has(key)) continue;
    known.add(key);
    events.push(e);
    // A fall with an id counts once per id; without one, only a wearable's is urgent (§2).
    const newFall = FALL.has(e.type) && (e.fallId !== undefined ? !falls.has(e.fallId) : e.source === FallSource.Wearable);
    if (SOS.has(e.type) || LONG_LIE.has(e.type) || newFall) urgent.push(e);
    if (SOS.has(e.type) || LONG_LIE.has(e.type) || (FALL.has(e.type) && (e.fallId === undefined || !falls.has(e.fallId)))) opening.push(e);
    if (e.fallId !== undefined) falls.add(e.fallId);
  }
  return { events, urgent, opening, seen: [...known].slice(-SEEN_EVENTS), fallIds: [...falls].slice(-SEEN_EVENTS) };
}

/** The level an alert opened by these events alone would have had at the edge (§2 table). */
export function levelOf(events: readonly AlertEventRef[]): { level: AlertLevel; skipCancelWindow: boolean; confirmed: boolean } {
  if (events.some((e) => SOS.has(e.type) || LONG_LIE.has(e.type))) {
    return { level: AlertLevel.Urgent, skipCancelWindow: true, confirmed: events.some((e) => LONG_LIE.has(e.type)) };
  }
  if (events.some((e) => FALL.has(e.type) && e.source === FallSource.Wearable)) {
    return { level: AlertLevel.Urgent, skipCancelWindow: false, confirmed: false };
  }
  return { level: AlertLevel.Unconfirmed, skipCancelWindow: false, confirmed: false };
}

/** Does this report start something that must not be folded into a closed alert? (A
 * repeat of a fall already handled, its "got up" or its cancel, does not.) */
export function opensAgain(fresh: NewEvents): boolean {
  return fresh.opening.length > 0;
}
