import type { MqttClient } from 'mqtt';
import { Channel, DeviceKind, Event, Motion, Severity, Telemetry, deviceTopic } from '@yulan/protos';
import { SITE } from './harness.js';

/** A fall sensor publishing real protobuf events and telemetry over MQTT (QoS 1). */
export class FallDevice {
  private seq: number;
  constructor(private readonly client: MqttClient, readonly deviceId: string, startSeq = 1) {
    this.seq = startSeq;
  }

  private topic(ch: (typeof Channel)[keyof typeof Channel]): string {
    return deviceTopic({ site: SITE, kind: DeviceKind.FALL_SENSOR, deviceId: this.deviceId }, ch);
  }

  private header(): { deviceId: string; kind: DeviceKind; seq: number; tsMs: number } {
    return { deviceId: this.deviceId, kind: DeviceKind.FALL_SENSOR, seq: this.seq++, tsMs: Date.now() };
  }

  async event(type: string, severity: Severity, attributes: Record<string, string> = {}): Promise<void> {
    const payload = Event.encode({ header: this.header(), type, severity, message: type, attributes });
    await this.client.publishAsync(this.topic(Channel.Event), Buffer.from(payload), { qos: 1 });
  }

  async telemetry(over: Partial<{ presence: boolean; motion: Motion; fall: boolean; longLie: boolean; sos: boolean; batteryPct: number; movementLevel: number }> = {}): Promise<void> {
    const payload = Telemetry.encode({
      header: this.header(),
      fallSensor: { presence: true, motion: Motion.STILL, fall: false, longLie: false, sos: false, batteryPct: 80, movementLevel: 3, ...over },
    });
    await this.client.publishAsync(this.topic(Channel.Telemetry), Buffer.from(payload), { qos: 1 });
  }

  async end(): Promise<void> {
    await this.client.endAsync();
  }
}

export { Severity };
