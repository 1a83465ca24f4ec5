import { NOISE_LIMITS, Severity, type EnvMonitorTelemetry, type NoiseZone } from '@yulan/protos';
import { hazard, type Rng } from '../rng.js';
import {
  DEFAULT_UTC_OFFSET_MIN, HOUR_MS, MINUTE_MS, clamp, hourBump, localHour, round, type SimEvent, type StepResult,
} from './types.js';

// GB 3096-2008 zone classes and limits: one table in protos, shared with the edge.
export { NOISE_LIMITS, NOISE_ZONES, type NoiseZone } from '@yulan/protos';

/** Quiet-hours background level per zone, dB(A); traffic adds up to ~22 dB on top. */
const ZONE_BASE: Record<NoiseZone, number> = { '0': 32, '1': 35, '2': 39, '3': 43, '4a': 47, '4b': 49 };

/** HJ 633-2012: PM2.5 above 75 µg/m³ (24 h) is beyond "good" (IAQI > 100). */
export const PM25_EPISODE_START = 75;
const PM25_EPISODE_END = 60;

export interface EnvMonitorConfig {
  utcOffsetMin: number;
  zone: NoiseZone;
  /** GB 3096 day period, local hours; local governments may move it, so it is configurable. */
  dayStartHour: number;
  nightStartHour: number;
  /** Regional pollution episodes per day (each lasts hours). */
  episodesPerDay: number;
  meanTempC: number;
  /** Whether the station has gas sensors (NO2, O3, CO, SO2). */
  gases: boolean;
  /** Operator alert thresholds (twin); unset = the zone's GB 3096 limit / HJ 633 "good". */
  noiseAlertDba?: number;
  pm25AlertUgm3?: number;
}

export interface Episode {
  startMs: number;
  endMs: number;
  peakPm25: number;
}

export interface EnvMonitorState {
  config: EnvMonitorConfig;
  nowMs: number;
  episode: Episode | null;
  /** Mean-reverting log-noise on particulates (AR(1) in continuous time). */
  pmNoise: number;
  tempNoise: number;
  coarseRatio: number;
  /** Slow traffic-noise fluctuation (OU), so consecutive 1 s readings are correlated. */
  noiseNoise: number;
  /** Energy-averaged LAeq over ~10 min; limits are judged on it, not on single readings,
   * so a level hovering near the limit does not produce an event per reading. */
  laeqAvg: number;
  noiseExceeded: boolean;
  pollutionHigh: boolean;
  episodeCounter: number;
  /** env.sleep: sensing goes on (the physics does), nothing is reported until env.wake. */
  sleeping: boolean;
}

export interface EnvStepResult extends StepResult<EnvMonitorState, EnvMonitorTelemetry> {
  silent: boolean;
}

export function defaultEnvMonitorConfig(p: Partial<EnvMonitorConfig> = {}): EnvMonitorConfig {
  return {
    utcOffsetMin: DEFAULT_UTC_OFFSET_MIN, zone: '2', dayStartHour: 6, nightStartHour: 22, episodesPerDay: 0.15,
    meanTempC: 17, gases: true, ...p,
  };
}

export function initEnvMonitor(config: EnvMonitorConfig, startMs: number, rng: Rng): EnvMonitorState {
  if (!(config.zone in NOISE_LIMITS)) throw new RangeError(`unknown GB 3096 zone "${config.zone}"`);
  return {
    config, nowMs: startMs, episode: null, pmNoise: rng.normal(0, 0.2), tempNoise: 0,
    coarseRatio: rng.range(1.4, 1.9), noiseNoise: 0, laeqAvg: NaN, noiseExceeded: false, pollutionHigh: false, episodeCounter: 0,
    sleeping: false,
  };
}

/** Road traffic intensity 0..1 by local hour: quiet at 03:00, peaks at the rush hours. */
export function trafficIntensity(hour: number): number {
  const day = hour >= 6 && hour < 23 ? 0.55 : 0;
  return clamp(0.06 + day * hourBump(hour, 14, 6) / hourBump(14, 14, 6) + 0.35 * hourBump(hour, 8, 1.3) + 0.4 * hourBump(hour, 18, 1.5), 0, 1);
}

export function isNoiseDay(hour: number, c: Pick<EnvMonitorConfig, 'dayStartHour' | 'nightStartHour'>): boolean {
  return hour >= c.dayStartHour && hour < c.nightStartHour;
}

/** Exact Ornstein–Uhlenbeck update: stable for any step length. */
function ou(x: number, dtMs: number, tauMs: number, sd: number, rng: Rng): number {
  const a = Math.exp(-dtMs / tauMs);
  return x * a + sd * Math.sqrt(1 - a * a) * rng.normal();
}

const ev = (type: string, severity: Severity, message: string, attributes: Record<string, string>): SimEvent => ({
  type, severity, message, attributes,
});

export function stepEnvMonitor(prev: EnvMonitorState, elapsedMs: number, rng: Rng): EnvStepResult {
  const r = stepAwake(prev, elapsedMs, rng);
  if (!prev.sleeping) return { ...r, silent: false };
  // Asleep: no report and no alert; the alert latches stay as they were, so a level still
  // above the limit raises its alert after env.wake.
  return { state: { ...r.state, noiseExceeded: prev.noiseExceeded, pollutionHigh: prev.pollutionHigh }, reading: r.reading, events: [], silent: true };
}

function stepAwake(prev: EnvMonitorState, elapsedMs: number, rng: Rng): StepResult<EnvMonitorState, EnvMonitorTelemetry> {
  const c = prev.config;
  const s: EnvMonitorState = { ...prev, nowMs: prev.nowMs + elapsedMs };
  const events: SimEvent[] = [];
  const hour = localHour(s.nowMs, c.utcOffsetMin);
  const traffic = trafficIntensity(hour);

  if (s.episode && s.nowMs >= s.episode.endMs) s.episode = null;
  if (!s.episode && rng.chance(hazard(c.episodesPerDay / 24, elapsedMs))) {
    s.episodeCounter += 1;
    s.episode = { startMs: s.nowMs, endMs: s.nowMs + rng.range(4, 24) * HOUR_MS, peakPm25: rng.range(60, 220) };
  }
  // Episodes build up and clear smoothly (sin over their lifetime).
  const episodeAdd = s.episode
    ? s.episode.peakPm25 * Math.sin(Math.PI * clamp((s.nowMs - s.episode.startMs) / (s.episode.endMs - s.episode.startMs), 0, 1))
    : 0;

  s.pmNoise = ou(s.pmNoise, elapsedMs, 30 * MINUTE_MS, 0.25, rng);
  s.tempNoise = ou(s.tempNoise, elapsedMs, 2 * HOUR_MS, 0.8, rng);

  const rush = hourBump(hour, 8, 1.2) + hourBump(hour, 18, 1.5);
  const pm25 = Math.max(0, (16 + 14 * rush) * Math.exp(s.pmNoise) + episodeAdd);
  const diurnal = Math.cos((2 * Math.PI * (hour - 15)) / 24); // warmest mid-afternoon
  const temperatureC = c.meanTempC + 4.5 * diurnal + s.tempNoise;
  const humidityPct = clamp(65 - 15 * diurnal - 2 * s.tempNoise + rng.normal(0, 1), 10, 100);

  // Noise: background by zone + traffic, plus the odd horn or construction burst.
  const burst = rng.chance(hazard(0.5, elapsedMs)) ? rng.range(8, 20) : 0;
  // Rounded before comparing so the event agrees with the reported value.
  s.noiseNoise = ou(s.noiseNoise, elapsedMs, 2 * MINUTE_MS, 2, rng);
  const noiseDba = round(Math.max(20, ZONE_BASE[c.zone] + 22 * traffic + s.noiseNoise + rng.normal(0, 0.7) + burst), 1);
  const w = 1 - Math.exp(-elapsedMs / (10 * MINUTE_MS));
  const energy = (db: number): number => 10 ** (db / 10);
  s.laeqAvg = Number.isNaN(s.laeqAvg) ? noiseDba : 10 * Math.log10(energy(s.laeqAvg) * (1 - w) + energy(noiseDba) * w);
  const laeq = round(s.laeqAvg, 1);

  const day = isNoiseDay(hour, c);
  const limit = c.noiseAlertDba ?? (day ? NOISE_LIMITS[c.zone].day : NOISE_LIMITS[c.zone].night);
  // GB 3096: at night a single peak more than 15 dB over the limit is a violation on its own.
  const nightPeak = !day && noiseDba > limit + 15;
  if ((laeq > limit || nightPeak) && !s.noiseExceeded) {
    s.noiseExceeded = true;
    events.push(ev('env.noise_exceeded', nightPeak ? Severity.CRITICAL : Severity.WARNING,
      nightPeak
        ? `night peak ${noiseDba.toFixed(1)} dB(A) more than 15 dB over the limit ${limit} of zone ${c.zone}`
        : `LAeq ${laeq.toFixed(1)} dB(A) above the ${day ? 'day' : 'night'} limit ${limit} of zone ${c.zone}`, {
        laeq_dba: laeq.toFixed(1), noise_dba: noiseDba.toFixed(1), limit_dba: String(limit), zone: c.zone,
        period: day ? 'day' : 'night', night_peak: String(nightPeak),
      }));
  } else if (laeq <= limit - 2 && !nightPeak) {
    s.noiseExceeded = false; // 2 dB hysteresis
  }

  const pmStart = c.pm25AlertUgm3 ?? PM25_EPISODE_START;
  const pmEnd = c.pm25AlertUgm3 === undefined ? PM25_EPISODE_END : pmStart * (PM25_EPISODE_END / PM25_EPISODE_START);
  if (pm25 > pmStart && !s.pollutionHigh) {
    s.pollutionHigh = true;
    events.push(ev('env.pollution_episode_started', Severity.WARNING, `PM2.5 ${pm25.toFixed(0)} µg/m³ above ${pmStart}`, {
      pm25_ugm3: pm25.toFixed(1), threshold_ugm3: String(pmStart),
    }));
  } else if (pm25 < pmEnd && s.pollutionHigh) {
    s.pollutionHigh = false;
    events.push(ev('env.pollution_episode_ended', Severity.INFO, `PM2.5 back to ${pm25.toFixed(0)} µg/m³`, {
      pm25_ugm3: pm25.toFixed(1),
    }));
  }

  const reading: EnvMonitorTelemetry = {
    pm1Ugm3: round(pm25 * 0.7, 1),
    pm25Ugm3: round(pm25, 1),
    pm10Ugm3: round(pm25 * s.coarseRatio + 5 * traffic, 1),
    temperatureC: round(temperatureC, 2),
    humidityPct: round(humidityPct, 1),
    noiseDba,
  };
  if (c.gases) {
    const sun = hourBump(hour, 15, 3);
    reading.no2Ugm3 = round(Math.max(0, 18 + 45 * traffic + 0.35 * episodeAdd + rng.normal(0, 3)), 1);
    reading.o3Ugm3 = round(Math.max(0, 30 + 90 * sun - 15 * traffic + rng.normal(0, 4)), 1);
    reading.coMgm3 = round(Math.max(0, 0.5 + 0.6 * traffic + 0.004 * episodeAdd + rng.normal(0, 0.05)), 2);
    reading.so2Ugm3 = round(Math.max(0, 6 + 0.03 * episodeAdd + rng.normal(0, 1)), 1);
  }
  return { state: s, reading, events };
}
