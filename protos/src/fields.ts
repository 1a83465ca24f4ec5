import type { Telemetry } from './gen/yulan-v1.js';

/** A reading flattened into named fields: numbers are aggregated, strings stored as tags
 * of the raw reading. Field names are snake_case and stable: they are the query API's. */
export interface FlatReading {
  numeric: Record<string, number>;
  text: Record<string, string>;
}

const b = (v: boolean): number => (v ? 1 : 0);

/** Flattens the kind-specific part of a telemetry message. Pure; no I/O. */
export function flattenTelemetry(t: Telemetry): FlatReading {
  const numeric: Record<string, number> = {};
  const text: Record<string, string> = {};
  const put = (k: string, v: number | undefined): void => {
    if (v !== undefined && Number.isFinite(v)) numeric[k] = v;
  };
  if (t.evCharger) {
    const r = t.evCharger;
    put('connector_id', r.connectorId);
    put('status', r.status);
    put('power_w', r.powerW);
    put('energy_kwh', r.energyKwh);
    put('current_a', r.currentA);
    put('voltage_v', r.voltageV);
    put('meter_kwh', r.meterKwh);
    put('faulted', b(r.faultCode !== ''));
    put('soc_pct', r.socPct);
    put('current_l1_a', r.currentL1A);
    put('current_l2_a', r.currentL2A);
    put('current_l3_a', r.currentL3A);
    put('current_offered_a', r.currentOfferedA);
    put('temperature_c', r.temperatureC);
    if (r.faultCode) text.fault_code = r.faultCode;
    if (r.transactionId) text.transaction_id = r.transactionId;
  } else if (t.parcelLocker) {
    const r = t.parcelLocker;
    put('compartments', r.compartments.length);
    put('doors_open', r.compartments.filter((c) => c.doorOpen).length);
    put('occupied', r.compartments.filter((c) => c.occupied).length);
    put('cabinet_temp_c', r.cabinetTempC);
    put('tamper', b(r.tamper));
    put('mains_power', b(r.mainsPower));
    put('supply_voltage_v', r.supplyVoltageV);
  } else if (t.fallSensor) {
    const r = t.fallSensor;
    put('presence', b(r.presence));
    put('motion', r.motion);
    put('fall', b(r.fall));
    put('long_lie', b(r.longLie));
    put('heart_rate_bpm', r.heartRateBpm);
    put('breathing_rate_bpm', r.breathingRateBpm);
    put('sos', b(r.sos));
    put('battery_pct', r.batteryPct);
    put('movement_level', r.movementLevel);
  } else if (t.envMonitor) {
    const r = t.envMonitor;
    put('pm1_ugm3', r.pm1Ugm3);
    put('pm25_ugm3', r.pm25Ugm3);
    put('pm10_ugm3', r.pm10Ugm3);
    put('temperature_c', r.temperatureC);
    put('humidity_pct', r.humidityPct);
    put('noise_dba', r.noiseDba);
    put('no2_ugm3', r.no2Ugm3);
    put('o3_ugm3', r.o3Ugm3);
    put('co_mgm3', r.coMgm3);
    put('so2_ugm3', r.so2Ugm3);
  }
  return { numeric, text };
}
