import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SMTPServer } from 'smtp-server';
import { WebhookHeader, verifyWebhook } from '@yulan/protos';
import { buildApp } from '../src/app.js';
import { digestToken } from '../src/auth-tokens.js';
import { createHttpEdgeClient } from '../src/edge-client.js';
import { CloudError, CloudErrorCode } from '../src/errors.js';
import { SqliteDeviceRepository } from '../src/repositories/sqlite-device-repository.js';
import type { AuditEntry, AuditLog, CareDirectory, Channel, LadderConfig, LadderPlan, Principal, Recipient, ResidentRef } from '../src/care/contracts.js';
import { openAlerts, type AlertsModule, type AlertReport, type OpenAlertsOptions } from '../src/care/alerts/index.js';
import { silentLogger } from './helpers.js';
import type { DbTarget } from '../src/db/target.js';

export const ADMIN = 'admin-token-0123456789-abcdefghijklmnop';
export const EDGE = 'edge-token-for-alert-tests';
export const edgeAuth = { authorization: `Bearer ${EDGE}` };
export const as = (userId: string) => ({ 'x-test-user': userId });

/** In-memory stand-in for care/people's directory: one resident, family, workers, call centre. */
export class FakeDirectory implements CareDirectory {
  people = new Map<string, Recipient>();
  devices = new Map<string, ResidentRef>();
  family: string[] = [];
  workers: string[] = [];
  callcentre: string[] = [];
  /** userId → resident ids with health access (admins see all) */
  access = new Map<string, string[]>();
  config: LadderConfig = { cancelWindowSec: 0, familyAckSec: 1, workerAckSec: 1, reminderSec: 60 };

  add(userId: string, role: Recipient['role'], channels: Channel[], locale: Recipient['locale'] = 'en'): Recipient {
    const r: Recipient = { userId, name: `Name ${userId}`, role, locale, channels };
    this.people.set(userId, r);
    return r;
  }
  async residentForDevice(deviceId: string) { return this.devices.get(deviceId) ?? null; }
  async ladderPlan(residentId: string | null): Promise<LadderPlan> {
    const get = (ids: string[]) => ids.map((id) => this.people.get(id)).filter((r): r is Recipient => r !== undefined);
    const cc = { kind: 'callcentre' as const, recipients: get(this.callcentre), ackSec: null };
    if (residentId === null) return { residentId: null, residentName: null, config: this.config, steps: [cc] };
    return {
      residentId, residentName: this.devices.get('fall-1')?.name ?? null, config: this.config,
      steps: [
        ...get(this.family).map((r) => ({ kind: 'family' as const, recipients: [r], ackSec: this.config.familyAckSec })),
        { kind: 'worker' as const, recipients: get(this.workers), ackSec: this.config.workerAckSec },
        cc,
      ],
    };
  }
  async canAccess(p: Principal, residentId: string) {
    if (p.kind === 'api-token') return false;
    return p.kind === 'admin-token' || p.role === 'admin' || (this.access.get(p.userId) ?? []).includes(residentId);
  }
  async visibleResidents(p: Principal) {
    if (p.kind === 'api-token') return [];
    return p.kind === 'admin-token' || p.role === 'admin' ? ('all' as const) : this.access.get(p.userId) ?? [];
  }
  async person(userId: string) { return this.people.get(userId) ?? null; }
}

export class MemoryAudit implements AuditLog {
  entries: AuditEntry[] = [];
  async record(e: AuditEntry) { this.entries.push(e); }
}

/** Test-only `authenticate`: `x-test-user: <id>` is that person, the admin bearer is the admin token. */
export function testAuthenticate(dir: FakeDirectory) {
  return async function authenticate(request: FastifyRequest, _reply: FastifyReply) {
    if (request.headers.authorization === `Bearer ${ADMIN}`) { request.principal = { kind: 'admin-token' }; return; }
    const id = request.headers['x-test-user'];
    const p = typeof id === 'string' ? dir.people.get(id) : undefined;
    if (!p) throw new CloudError(CloudErrorCode.Unauthorized, 'sign in first');
    request.principal = { kind: 'person', userId: p.userId, role: p.role, name: p.name, locale: p.locale };
  };
}

/** Opens the alert module on a SQLite file (a path) or any DbTarget (PostgreSQL in the contract suite). */
export async function openTestAlerts(db: string | DbTarget, dir: FakeDirectory, over: Partial<OpenAlertsOptions> = {}): Promise<AlertsModule> {
  const alerts = await openAlerts({
    db: typeof db === 'string' ? { kind: 'sqlite', file: db } : db, directory: dir, audit: new MemoryAudit(), logger: silentLogger, publicUrl: 'http://care.test',
    webhookBackoffMs: [10, 20, 30, 40], ...over,
  });
  alerts.authenticate = testAuthenticate(dir);
  return alerts;
}

export async function alertsApp(alerts: AlertsModule): Promise<FastifyInstance> {
  return buildApp({
    logger: silentLogger,
    devices: new SqliteDeviceRepository({ file: ':memory:' }),
    edge: createHttpEdgeClient({ baseUrl: 'http://127.0.0.1:9', token: 'x' }),
    control: { connected: () => true, publishRevoke: async () => undefined },
    adminTokenDigest: digestToken(ADMIN),
    brokerToken: 'broker-token-for-tests',
    edgeToken: EDGE,
    dashboardDir: null,
    alerts,
  });
}

let seq = 0;
export function report(over: Partial<AlertReport> = {}): AlertReport {
  const t = Date.now();
  return {
    id: `al_test${++seq}x${Math.random().toString(36).slice(2, 8)}`, revision: 1, deviceId: 'fall-1', site: 'xuhui',
    type: 'sos', level: 'urgent', state: 'open', skipCancelWindow: true,
    openedAtMs: t, updatedAtMs: t, firstEventAtMs: t - 200, lastEventAtMs: t - 200, eventCount: 1,
    events: [{ type: 'sos.pressed', atMs: t - 200, seq: 7 }], message: 'SOS pressed', ...over,
  };
}

export interface Delivery { deliveryId: string; kind: string; alertId: string; userId: string; body: Record<string, unknown> }

export interface Receiver {
  url: string;
  secret: string;
  deliveries: Delivery[];
  /** requests refused because of a bad signature (should stay 0) */
  badSignatures: number;
  /** answer this status instead of 200 */
  failWith: number | null;
  requests: number;
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** A real webhook receiver that verifies Yulan's signature, like a partner's would. */
export async function startReceiver(secret = `whsec-${Math.random().toString(36).slice(2)}`): Promise<Receiver> {
  const rec: Receiver = { url: '', secret, deliveries: [], badSignatures: 0, failWith: null, requests: 0, close: async () => undefined };
  const server = createServer((req, res) => {
    void readBody(req).then((body) => {
      rec.requests++;
      const check = verifyWebhook(secret, req.headers[WebhookHeader.Timestamp] as string, req.headers[WebhookHeader.Signature] as string, body);
      if (!check.ok) { rec.badSignatures++; res.writeHead(401).end(); return; }
      if (rec.failWith !== null) { res.writeHead(rec.failWith).end(); return; }
      const b = JSON.parse(body) as { deliveryId: string; kind: string; alert: { id: string }; recipient: { userId: string } };
      if (b.deliveryId !== req.headers[WebhookHeader.Delivery]) { rec.badSignatures++; res.writeHead(400).end(); return; }
      rec.deliveries.push({ deliveryId: b.deliveryId, kind: b.kind, alertId: b.alert.id, userId: b.recipient.userId, body: b as never });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  rec.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  rec.close = () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); });
  return rec;
}

export interface SmtpSink { url: string; messages: { to: string[]; raw: string }[]; close(): Promise<void> }

/** A real SMTP server (smtp-server) on an ephemeral port, no TLS, no auth. */
export async function startSmtp(): Promise<SmtpSink> {
  const sink: SmtpSink = { url: '', messages: [], close: async () => undefined };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        sink.messages.push({ to: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks).toString('utf8') });
        callback();
      });
    },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.server.address() as AddressInfo).port;
  sink.url = `smtp://127.0.0.1:${port}`;
  sink.close = () => new Promise<void>((r) => server.close(() => r()));
  return sink;
}
