import { describe, expect, it } from 'vitest';
import { provisionRequestTopic, provisionResponseTopic } from '@yulan/protos';
import { canPublish, canSubscribe, devicePrincipal, servicePrincipal } from '../src/acl.js';
import { claimPrincipal, parseClaimLogin } from '../src/claim-acl.js';
import { DeviceKind } from '@yulan/protos';

describe('claim sessions (pure ACL)', () => {
  const p = claimPrincipal('lockers-a', 'SN-1', 'parcel-locker', 'site-7');

  it('may publish only its own request and subscribe only to its own response', () => {
    expect(canPublish(p, provisionRequestTopic('lockers-a', 'SN-1'))).toBe(true);
    expect(canSubscribe(p, provisionResponseTopic('lockers-a', 'SN-1'))).toBe(true);
    for (const topic of [
      'yulan/v1/site-7/parcel-locker/SN-1/telemetry', 'yulan/v1/site-7/parcel-locker/SN-1/presence',
      provisionResponseTopic('lockers-a', 'SN-1'), provisionRequestTopic('lockers-a', 'SN-2'), provisionRequestTopic('lockers-b', 'SN-1'),
      '$yulan/v1/control/revoke',
    ]) expect(canPublish(p, topic), topic).toBe(false);
    for (const filter of [
      provisionRequestTopic('lockers-a', 'SN-1'), provisionResponseTopic('lockers-a', 'SN-2'), '$yulan/v1/provision/lockers-a/+/response',
      '$yulan/v1/provision/#', 'yulan/v1/#', '#',
    ]) expect(canSubscribe(p, filter), filter).toBe(false);
  });

  it('no other role may read a response (it carries the new secret) or write a request', () => {
    const response = provisionResponseTopic('lockers-a', 'SN-1');
    for (const other of [devicePrincipal('SN-1', 'site-7', DeviceKind.PARCEL_LOCKER), servicePrincipal('edge', 'edge'), servicePrincipal('cloud', 'cloud')]) {
      expect(canSubscribe(other, response), other.role).toBe(false);
      expect(canSubscribe(other, '$yulan/v1/provision/#'), other.role).toBe(false);
      expect(canPublish(other, provisionRequestTopic('lockers-a', 'SN-1')), other.role).toBe(false);
    }
  });

  it('binds the serial to the session by its client id', () => {
    expect(parseClaimLogin('claim:lockers-a', 'claim:lockers-a:SN-1')).toEqual({ claimId: 'lockers-a', serial: 'SN-1' });
    expect(parseClaimLogin('claim:lockers-a', 'SN-1')).toMatch(/client id must be/);
    expect(parseClaimLogin('claim:lockers-a', 'claim:lockers-b:SN-1')).toMatch(/client id must be/);
    expect(parseClaimLogin('claim:lockers-a', 'claim:lockers-a:SN/1')).toMatch(/invalid serial/);
    expect(parseClaimLogin('claim:lockers-a', 'claim:lockers-a:')).toMatch(/invalid serial/);
    expect(parseClaimLogin('claim:Bad/Id', 'claim:Bad/Id:SN-1')).toMatch(/invalid claim id/);
  });
});
