// MQTT PUBLISH packets and telemetry readings for the load generator, built by hand: the
// generator must cost far less per message than the broker it measures.
import { DeviceKind, Telemetry } from '@yulan/protos';

/**
 * Writes a PUBLISH by hand: fixed header, remaining length, topic, packet id, payload. The
 * generator must cost far less per message than the broker it measures — MQTT.js spent
 * ~60 µs per QoS 1 publish here, which on a 2-core machine was taken from the broker.
 */
export function publishPacket(topic: Buffer, payload: Uint8Array, qos: 0 | 1, messageId: number): Buffer {
  const remaining = 2 + topic.length + (qos ? 2 : 0) + payload.length;
  let lenBytes = 1;
  for (let r = remaining; r >= 128; r = Math.floor(r / 128)) lenBytes++;
  const buf = Buffer.allocUnsafe(1 + lenBytes + remaining);
  let o = 0;
  buf[o++] = qos ? 0x32 : 0x30;
  let r = remaining;
  do {
    let b = r % 128;
    r = Math.floor(r / 128);
    if (r > 0) b |= 0x80;
    buf[o++] = b;
  } while (r > 0);
  buf.writeUInt16BE(topic.length, o);
  o += 2;
  topic.copy(buf, o);
  o += topic.length;
  if (qos) {
    buf.writeUInt16BE(messageId, o);
    o += 2;
  }
  buf.set(payload, o);
  return buf;
}

export function reading(kind: number, seq: number): Parameters<typeof Telemetry.encode>[0] {
  const wave = Math.sin(seq / 10);
  switch (kind) {
    case DeviceKind.EV_CHARGER: return { evCharger: { connectorId: 1, status: 3, powerW: 7000 + 100 * wave, energyKwh: seq / 1000, currentA: 30 + wave, voltageV: 230, meterKwh: 1000 + seq / 1000 } };
    case DeviceKind.PARCEL_LOCKER: return { parcelLocker: { compartments: [{ index: 1, doorOpen: false, occupied: seq % 2 === 0, size: 'M', locked: true }], mainsPower: true, supplyVoltageV: 12 } };
    case DeviceKind.FALL_SENSOR: return { fallSensor: { presence: true, motion: 2, heartRateBpm: 70 + 5 * wave, breathingRateBpm: 16, batteryPct: 90 } };
    default: return { envMonitor: { pm1Ugm3: 10, pm25Ugm3: 30 + 10 * wave, pm10Ugm3: 50, temperatureC: 21, humidityPct: 55, noiseDba: 55 + 3 * wave } };
  }
}

