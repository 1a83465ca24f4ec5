import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecurityNotifier } from '../src/security/notify.js';
import type { SecurityAlert } from '../src/security/store.js';
import { startSmtp, type SmtpSink } from './care-alerts-support.js';

/**
 * How operators are told of a security alert (security/notify.ts): email through a real
 * SMTP server, a webhook answering 500, a webhook without a secret (never sent unsigned),
 * and email without an SMTP server — each outcome recorded, none stopping the others.
 */
const alert: SecurityAlert = {
  id: 7, rule: 'mqtt-auth', source: 'broker', description: 'MQTT logins refused', threshold: 30, windowSec: 60,
  openedAt: '2026-12-03T10:00:00.000Z', closedAt: null, openedCount: 42, peakCount: 42, events: 42, lastSeenAt: '2026-12-03T10:00:00.000Z', delivery: null,
};
let smtp: SmtpSink; let failing: Server; let failingUrl = ''; let hits = 0;

beforeAll(async () => {
  smtp = await startSmtp();
  failing = createServer((_req, res) => { hits++; res.writeHead(500).end(); });
  await new Promise<void>((r) => failing.listen(0, '127.0.0.1', r));
  failingUrl = `http://127.0.0.1:${(failing.address() as AddressInfo).port}/hook`;
});
afterAll(async () => {
  await smtp?.close();
  await new Promise<void>((r) => failing.close(() => r()));
});

describe('security notices', () => {
  it('emails the operator, records a failing webhook and refuses an unsigned one, one line per attempt', async () => {
    const n = new SecurityNotifier({
      smtp: { url: smtp.url, from: 'Yulan <yulan@example.org>' },
      directory: {
        operators: async () => [
          { id: 'u-ops', name: 'Ops', channels: [{ type: 'email', address: 'ops@example.org' }, { type: 'app', address: '' }] },
          { id: 'u-admin', name: 'Admin', channels: [{ type: 'webhook', address: failingUrl, secret: 's'.repeat(32) }, { type: 'webhook', address: failingUrl }] },
        ],
      },
    });
    try {
      const delivery = await n.send({ event: 'security.alert.opened', alert, consoleUrl: 'https://console.example.org/#/security' });
      expect(delivery.split('; ')).toEqual([
        'email:u-ops sent',
        'webhook:u-admin failed: HTTP 500',
        'webhook:u-admin failed: webhook channel has no secret',
      ]);
      expect(hits).toBe(1);
      expect(smtp.messages).toHaveLength(1);
      expect(smtp.messages[0]!.to).toEqual(['ops@example.org']);
      expect(smtp.messages[0]!.raw).toContain('Subject: [Yulan security] alert: mqtt-auth');
      expect(smtp.messages[0]!.raw).toContain('Threshold: 30 within 60 s; seen 42.');
      expect(smtp.messages[0]!.raw).toContain('https://console.example.org/#/security');
    } finally {
      n.close();
    }
  });

  it('without an SMTP server an email channel fails plainly; nobody with a channel means no attempt', async () => {
    const n = new SecurityNotifier({ directory: { operators: async () => [{ id: 'u-1', name: 'One', channels: [{ type: 'email', address: 'one@example.org' }] }] } });
    expect(await n.send({ event: 'security.alert.closed', alert: { ...alert, closedAt: '2026-12-03T10:05:00.000Z' }, consoleUrl: '' }))
      .toBe('email:u-1 failed: no SMTP server configured (YULAN_SMTP_URL)');
    const none = new SecurityNotifier({ directory: { operators: async () => [] } });
    expect(await none.send({ event: 'security.alert.opened', alert, consoleUrl: '' })).toBe('');
  });
});
