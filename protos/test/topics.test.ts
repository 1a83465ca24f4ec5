import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Channel, DeviceKind, ProtoError, channelFilter, deviceTopic, parseDeviceTopic } from '@yulan/protos';

describe('topic scheme', () => {
  it('builds and parses device topics', () => {
    const t = deviceTopic({ site: 'xuhui-01', kind: DeviceKind.EV_CHARGER, deviceId: 'cp-0001' }, Channel.Telemetry);
    expect(t).toBe('yulan/v1/xuhui-01/ev-charger/cp-0001/telemetry');
    expect(parseDeviceTopic(t)).toEqual({ site: 'xuhui-01', kind: DeviceKind.EV_CHARGER, deviceId: 'cp-0001', channel: 'telemetry' });
  });

  it('refuses ids that could widen a filter', () => {
    for (const bad of ['+', '#', 'a/b', '$sys', '', 'x'.repeat(65)]) {
      expect(() => deviceTopic({ site: 's', kind: DeviceKind.FALL_SENSOR, deviceId: bad }, Channel.Event)).toThrow(ProtoError);
    }
  });

  it('rejects foreign, wildcard and malformed topics', () => {
    for (const t of ['yulan/v1/s/ev-charger/d', 'yulan/v2/s/ev-charger/d/telemetry', 'yulan/v1/s/toaster/d/telemetry',
      'yulan/v1/+/ev-charger/d/telemetry', 'yulan/v1/s/ev-charger/#/telemetry', 'yulan/v1/s/ev-charger/d/other', '$yulan/v1/control/revoke']) {
      expect(parseDeviceTopic(t)).toBeUndefined();
    }
  });

  it('builds filters', () => {
    expect(channelFilter(Channel.Presence)).toBe('yulan/v1/+/+/+/presence');
    expect(channelFilter(Channel.Event, { site: 'a', kind: DeviceKind.PARCEL_LOCKER })).toBe('yulan/v1/a/parcel-locker/+/event');
  });

  it('parse(build(x)) = x for any valid address (property)', () => {
    const id = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,20}$/);
    const kind = fc.constantFrom(DeviceKind.EV_CHARGER, DeviceKind.PARCEL_LOCKER, DeviceKind.FALL_SENSOR, DeviceKind.ENV_MONITOR);
    const channel = fc.constantFrom(...Object.values(Channel));
    fc.assert(fc.property(id, kind, id, channel, (site, k, deviceId, ch) => {
      expect(parseDeviceTopic(deviceTopic({ site, kind: k, deviceId }, ch))).toEqual({ site, kind: k, deviceId, channel: ch });
    }));
  });

  it('never throws on arbitrary strings (property)', () => {
    fc.assert(fc.property(fc.string(), (s) => { parseDeviceTopic(s); }));
  });
});
