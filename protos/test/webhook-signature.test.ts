import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { signWebhook, verifyWebhook } from '../src/webhook-signature.js';

describe('webhook signatures', () => {
  const now = 1_764_380_000_000;
  it('accepts its own signature and rejects any change to body, timestamp or secret', () => {
    fc.assert(
      fc.property(fc.string(), fc.string({ minLength: 1 }), fc.string({ minLength: 1 }), (body, secret, other) => {
        const sig = signWebhook(secret, now, body);
        expect(verifyWebhook(secret, String(now), sig, body, now)).toEqual({ ok: true });
        if (other !== secret) expect(verifyWebhook(other, String(now), sig, body, now)).toEqual({ ok: false, reason: 'mismatch' });
        expect(verifyWebhook(secret, String(now + 1), sig, body, now)).toEqual({ ok: false, reason: 'mismatch' });
        expect(verifyWebhook(secret, String(now), sig, `${body}x`, now)).toEqual({ ok: false, reason: 'mismatch' });
      }),
      { numRuns: 200 },
    );
  });
  it('rejects missing, malformed and stale headers with a reason', () => {
    const sig = signWebhook('s', now, '{}');
    expect(verifyWebhook('s', undefined, sig, '{}', now)).toEqual({ ok: false, reason: 'missing' });
    expect(verifyWebhook('s', String(now), undefined, '{}', now)).toEqual({ ok: false, reason: 'missing' });
    expect(verifyWebhook('s', 'yesterday', sig, '{}', now)).toEqual({ ok: false, reason: 'malformed' });
    expect(verifyWebhook('s', String(now), 'sha1=abc', '{}', now)).toEqual({ ok: false, reason: 'malformed' });
    expect(verifyWebhook('s', String(now), sig, '{}', now + 6 * 60_000)).toEqual({ ok: false, reason: 'stale' });
  });
});
