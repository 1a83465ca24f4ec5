/**
 * How people read the flattened telemetry fields (fields.ts) and device kinds: zh-CN and
 * English labels, units, and the labels of the enum values that travel as numbers.
 * Browser-safe (no Node imports): the operator console imports it as
 * `@yulan/protos/labels`, so screens never restate a field name or a unit.
 */
export interface FieldLabel {
  en: string;
  zh: string;
  /** SI-style unit as shown after a value; '' for counts, booleans and enums */
  unit: string;
  /** 0/1 fields shown as yes/no */
  boolean?: boolean;
  /** labels of a numeric enum's values (the proto enum's, UNSPECIFIED = 0 left out) */
  values?: Record<number, { en: string; zh: string }>;
}

const yes = { boolean: true, unit: '' } as const;

export const KIND_LABELS: Record<'ev-charger' | 'parcel-locker' | 'fall-sensor' | 'env-monitor', { en: string; zh: string }> = {
  'ev-charger': { en: 'EV charger', zh: '充电桩' },
  'parcel-locker': { en: 'Parcel locker', zh: '快递柜' },
  'fall-sensor': { en: 'Fall sensor', zh: '跌倒传感器' },
  'env-monitor': { en: 'Environment monitor', zh: '环境监测' },
};

export const STATUS_LABELS: Record<'online' | 'offline' | 'disabled', { en: string; zh: string }> = {
  online: { en: 'Online', zh: '在线' },
  offline: { en: 'Offline', zh: '离线' },
  disabled: { en: 'Disabled', zh: '已停用' },
};

export const FIELD_LABELS: Record<string, FieldLabel> = {
  // ev-charger (EvChargerTelemetry)
  connector_id: { en: 'Connector', zh: '枪号', unit: '' },
  status: {
    en: 'Connector status', zh: '充电枪状态', unit: '',
    values: {
      1: { en: 'Available', zh: '空闲' }, 2: { en: 'Preparing', zh: '准备中' }, 3: { en: 'Charging', zh: '充电中' },
      4: { en: 'Suspended (EVSE)', zh: '暂停(桩)' }, 5: { en: 'Suspended (EV)', zh: '暂停(车)' }, 6: { en: 'Finishing', zh: '结束中' },
      7: { en: 'Reserved', zh: '已预约' }, 8: { en: 'Unavailable', zh: '不可用' }, 9: { en: 'Faulted', zh: '故障' },
    },
  },
  power_w: { en: 'Power', zh: '功率', unit: 'W' },
  energy_kwh: { en: 'Session energy', zh: '本次电量', unit: 'kWh' },
  current_a: { en: 'Current', zh: '电流', unit: 'A' },
  voltage_v: { en: 'Voltage', zh: '电压', unit: 'V' },
  meter_kwh: { en: 'Meter', zh: '电表读数', unit: 'kWh' },
  faulted: { en: 'Faulted', zh: '故障', ...yes },
  // ev-charger, optional: what OCPP chargers report beyond the simulated ones (MeterValues)
  soc_pct: { en: 'State of charge', zh: '车辆电量', unit: '%' },
  current_l1_a: { en: 'Current L1', zh: '电流 L1', unit: 'A' },
  current_l2_a: { en: 'Current L2', zh: '电流 L2', unit: 'A' },
  current_l3_a: { en: 'Current L3', zh: '电流 L3', unit: 'A' },
  current_offered_a: { en: 'Current offered', zh: '可用电流', unit: 'A' },
  // parcel-locker (ParcelLockerTelemetry)
  compartments: { en: 'Compartments', zh: '格口数', unit: '' },
  doors_open: { en: 'Doors open', zh: '开门格口', unit: '' },
  occupied: { en: 'Occupied', zh: '已占用', unit: '' },
  cabinet_temp_c: { en: 'Cabinet temperature', zh: '柜内温度', unit: '°C' },
  tamper: { en: 'Tamper', zh: '防拆报警', ...yes },
  mains_power: { en: 'Mains power', zh: '市电', ...yes },
  supply_voltage_v: { en: 'Supply voltage', zh: '供电电压', unit: 'V' },
  // fall-sensor (FallSensorTelemetry)
  presence: { en: 'Presence', zh: '有人', ...yes },
  motion: {
    en: 'Motion', zh: '活动', unit: '',
    values: { 1: { en: 'None', zh: '无' }, 2: { en: 'Still', zh: '静止' }, 3: { en: 'Moving', zh: '走动' } },
  },
  fall: { en: 'Fall', zh: '跌倒', ...yes },
  long_lie: { en: 'Long lie', zh: '长时间倒地', ...yes },
  heart_rate_bpm: { en: 'Heart rate', zh: '心率', unit: 'bpm' },
  breathing_rate_bpm: { en: 'Breathing rate', zh: '呼吸频率', unit: '/min' },
  sos: { en: 'SOS', zh: '紧急呼叫', ...yes },
  battery_pct: { en: 'Battery', zh: '电量', unit: '%' },
  movement_level: { en: 'Movement level', zh: '活动强度', unit: '' },
  // env-monitor (EnvMonitorTelemetry)
  pm1_ugm3: { en: 'PM1', zh: 'PM1', unit: 'µg/m³' },
  pm25_ugm3: { en: 'PM2.5', zh: 'PM2.5', unit: 'µg/m³' },
  pm10_ugm3: { en: 'PM10', zh: 'PM10', unit: 'µg/m³' },
  temperature_c: { en: 'Temperature', zh: '温度', unit: '°C' },
  humidity_pct: { en: 'Humidity', zh: '湿度', unit: '%' },
  noise_dba: { en: 'Noise', zh: '噪声', unit: 'dB(A)' },
  no2_ugm3: { en: 'NO₂', zh: '二氧化氮', unit: 'µg/m³' },
  o3_ugm3: { en: 'O₃', zh: '臭氧', unit: 'µg/m³' },
  co_mgm3: { en: 'CO', zh: '一氧化碳', unit: 'mg/m³' },
  so2_ugm3: { en: 'SO₂', zh: '二氧化硫', unit: 'µg/m³' },
  // twin settings (twin.proto *Settings)
  report_interval_s: { en: 'Report interval', zh: '上报间隔', unit: 's' },
  current_limit_a: { en: 'Current limit', zh: '电流上限', unit: 'A' },
  temp_min_c: { en: 'Minimum temperature', zh: '最低温度', unit: '°C' },
  temp_max_c: { en: 'Maximum temperature', zh: '最高温度', unit: '°C' },
  sensitivity: { en: 'Sensitivity', zh: '灵敏度', unit: '' },
  cancel_window_s: { en: 'Cancel window', zh: '取消时限', unit: 's' },
  pm25_alert_ugm3: { en: 'PM2.5 alert level', zh: 'PM2.5 报警值', unit: 'µg/m³' },
  noise_alert_dba: { en: 'Noise alert level', zh: '噪声报警值', unit: 'dB(A)' },
  noise_zone_class: { en: 'Noise zone class (GB 3096)', zh: '声环境功能区类别', unit: '' },
};

/** The numeric telemetry fields of each kind, in the order flattenTelemetry (fields.ts) writes them. */
export const KIND_FIELDS: Record<keyof typeof KIND_LABELS, readonly string[]> = {
  'ev-charger': ['connector_id', 'status', 'power_w', 'energy_kwh', 'current_a', 'voltage_v', 'meter_kwh', 'faulted'],
  'parcel-locker': ['compartments', 'doors_open', 'occupied', 'cabinet_temp_c', 'tamper', 'mains_power', 'supply_voltage_v'],
  'fall-sensor': ['presence', 'motion', 'fall', 'long_lie', 'heart_rate_bpm', 'breathing_rate_bpm', 'sos', 'battery_pct', 'movement_level'],
  'env-monitor': ['pm1_ugm3', 'pm25_ugm3', 'pm10_ugm3', 'temperature_c', 'humidity_pct', 'noise_dba', 'no2_ugm3', 'o3_ugm3', 'co_mgm3', 'so2_ugm3'],
};

/** "7.2 kW"-style text of a field's value in a language. */
export function formatField(name: string, value: number, lang: 'en' | 'zh-CN'): string {
  const l = FIELD_LABELS[name];
  if (!l) return String(value);
  const zh = lang === 'zh-CN';
  if (l.boolean) return value ? (zh ? '是' : 'yes') : (zh ? '否' : 'no');
  const v = l.values?.[value];
  if (v) return zh ? v.zh : v.en;
  const n = Number.isInteger(value) ? String(value) : value.toFixed(Math.abs(value) < 10 ? 2 : 1);
  return l.unit ? `${n} ${l.unit}` : n;
}
