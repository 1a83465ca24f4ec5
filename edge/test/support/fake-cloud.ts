import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface Recorded {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  json: any;
  /** What the fake answered (0 = connection dropped). */
  status: number;
}

/** How the fake cloud answers one alert report: a status, or 'drop' (connection reset). */
export type AlertAnswer = number | 'drop';

/**
 * A real node:http server playing the cloud's internal endpoints (docs/care.md §2) and a
 * webhook receiver, recording every request. Behaviour is switched by the test at runtime.
 */
export async function startFakeCloud(token: string): Promise<{
  url: string;
  alerts: Recorded[];
  careRuleRequests: Recorded[];
  webhooks: Recorded[];
  answerAlert: (report: any) => AlertAnswer;
  careRules: () => { status: number; body: string };
  /** Reports the fake answered 2xx. */
  accepted(): any[];
  close(): Promise<void>;
}> {
  const alerts: Recorded[] = [];
  const careRuleRequests: Recorded[] = [];
  const webhooks: Recorded[] = [];
  const api = {
    answerAlert: (_report: any): AlertAnswer => 200,
    careRules: () => ({ status: 200, body: JSON.stringify({ timezone: 'Asia/Shanghai', utcOffsetMin: 480, devices: [] }) }),
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: any;
      try {
        json = body ? JSON.parse(body) : undefined;
      } catch {
        json = undefined;
      }
      const rec: Recorded = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, json, status: 0 };
      const authed = req.headers.authorization === `Bearer ${token}`;
      const send = (status: number, payload: string): void => {
        rec.status = status;
        res.writeHead(status, { 'content-type': 'application/json' }).end(payload);
      };
      if (req.url === '/api/v1/internal/alerts' && req.method === 'POST') {
        alerts.push(rec);
        if (!authed) return send(401, '{"error":"unauthorized"}');
        const a = api.answerAlert(json);
        if (a === 'drop') {
          req.socket.destroy();
          return;
        }
        return send(a, JSON.stringify(a < 300 ? { id: json.id, revision: json.revision, status: 'accepted' } : { error: 'nope' }));
      }
      if (req.url === '/api/v1/internal/care-rules' && req.method === 'GET') {
        careRuleRequests.push(rec);
        if (!authed) return send(401, '{"error":"unauthorized"}');
        const r = api.careRules();
        return send(r.status, r.body);
      }
      if (req.url?.startsWith('/hook')) {
        webhooks.push(rec);
        return send(200, '{}');
      }
      send(404, '{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    alerts, careRuleRequests, webhooks,
    get answerAlert() {
      return api.answerAlert;
    },
    set answerAlert(f) {
      api.answerAlert = f;
    },
    get careRules() {
      return api.careRules;
    },
    set careRules(f) {
      api.careRules = f;
    },
    accepted: () => alerts.filter((r) => r.status >= 200 && r.status < 300).map((r) => r.json),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

export interface Mail {
  from: string;
  to: string[];
  raw: string;
}

/** A real SMTP server (smtp-server) on an ephemeral port, keeping every message. */
export async function startSmtp(): Promise<{ url: string; mails: Mail[]; close(): Promise<void> }> {
  const mails: Mail[] = [];
  const server = new SMTPServer({
    authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'], logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
        mails.push({ from, to: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks).toString('utf8') });
        callback();
      });
    },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.server.address() as AddressInfo).port;
  return {
    url: `smtp://127.0.0.1:${port}`,
    mails,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
