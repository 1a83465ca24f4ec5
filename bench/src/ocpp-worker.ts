// A process of simulated OCPP 1.6J charge points for the ocpp scenario (ocpp.ts): raw
// OCPP-J frames over ws (not Yulan's gateway code), boot, Heartbeat every `heartbeatS`,
// MeterValues every `meterEveryS`; a RemoteStart is answered as a charger does
// (StartTransaction, Charging, MeterValues with current). Reconnects when cut off.
import WebSocket from 'ws';

export interface OcppWorkerCharger { id: string; secret: string; url: string }
export type ToOcppWorker =
  | { type: 'start'; chargers: OcppWorkerCharger[]; concurrency: number; heartbeatS: number; meterEveryS: number;
    /** source address of this process's connections: each 127.x address has its own ephemeral ports */
    localAddress?: string }
  | { type: 'report' }
  | { type: 'tx-burst'; ids: string[]; count: number };
export interface OcppWorkerStats { connected: number; accepted: number; upgradeRetries: number; pending: number; reconnects: number; meterSent: number; meterAnswered: number; meterLate: number; errors: number }
export type FromOcppWorker =
  | { type: 'stats'; stats: OcppWorkerStats; closes: Record<string, number> }
  | { type: 'report'; bootMs: number[]; stats: OcppWorkerStats; closes: Record<string, number>; answeredTx: Record<string, number[]> }
  | { type: 'tx-burst-done'; answered: number };

interface Cp { c: OcppWorkerCharger; ws?: WebSocket; n: number; pending: Map<string, (f: unknown[]) => void>; tx?: number; wh: number; up: boolean }

const stats: OcppWorkerStats = { connected: 0, accepted: 0, upgradeRetries: 0, pending: 0, reconnects: 0, meterSent: 0, meterAnswered: 0, meterLate: 0, errors: 0 };
const bootMs: number[] = [];
/** WebSocket closes of open connections, by `<code> <reason>` (who cut a charger off, and why). */
const closes: Record<string, number> = {};
/** Wh values of transaction MeterValues the gateway answered, per charger (the durability check). */
const answeredTx: Record<string, number[]> = {};
const cps = new Map<string, Cp>();
let cfg: Extract<ToOcppWorker, { type: 'start' }>;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function call(cp: Cp, action: string, payload: unknown, timeoutMs = 120_000): Promise<unknown[]> {
  const id = `w${++cp.n}`;
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => { cp.pending.delete(id); reject(new Error(`${action} unanswered`)); }, timeoutMs);
    cp.pending.set(id, (f) => { clearTimeout(t); resolve(f); });
    if (cp.ws?.readyState !== WebSocket.OPEN) { clearTimeout(t); cp.pending.delete(id); reject(new Error('not open')); return; }
    cp.ws.send(JSON.stringify([2, id, action, payload]));
  });
}

function openWs(cp: Cp): Promise<WebSocket> {
  const { id, secret, url } = cp.c;
  const ws = new WebSocket(`${url}/${id}`, ['ocpp1.6'], {
    headers: { authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` },
    ...(cfg.localAddress ? { localAddress: cfg.localAddress } : {}),
  });
  ws.on('message', (data) => {
    const f = JSON.parse(String(data)) as unknown[];
    if (f[0] !== 2) { const w = cp.pending.get(f[1] as string); cp.pending.delete(f[1] as string); w?.(f); return; }
    ws.send(JSON.stringify([3, f[1], { status: 'Accepted' }]));
    if (f[2] === 'RemoteStartTransaction') void remoteStart(cp).catch(() => stats.errors++);
  });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

async function remoteStart(cp: Cp): Promise<void> {
  const r = await call(cp, 'StartTransaction', { connectorId: 1, idTag: 'BENCH', meterStart: cp.wh, timestamp: new Date().toISOString() });
  cp.tx = (r[2] as { transactionId: number }).transactionId;
  await call(cp, 'StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Charging' });
  await meter(cp, 16);
}

async function meter(cp: Cp, currentA: number): Promise<void> {
  cp.wh += currentA > 0 ? 250 : 0;
  const wh = cp.wh;
  stats.meterSent++;
  const r = await call(cp, 'MeterValues', { connectorId: 1, ...(cp.tx !== undefined ? { transactionId: cp.tx } : {}), meterValue: [{ timestamp: new Date().toISOString(), sampledValue: [
    { value: String(wh), measurand: 'Energy.Active.Import.Register', unit: 'Wh' }, { value: String(currentA), measurand: 'Current.Import', unit: 'A' }] }] });
  if (r[0] === 3) {
    stats.meterAnswered++;
    if (cp.tx !== undefined) (answeredTx[cp.c.id] ??= []).push(wh);
  }
}

/** Connect (retrying refusals and resets, as chargers do) and boot until Accepted. */
async function bring(cp: Cp, first: boolean): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      cp.ws = await openWs(cp);
      break;
    } catch {
      stats.upgradeRetries++;
      await sleep(1000 + Math.random() * 2000);
    }
  }
  stats.connected++;
  const ws = cp.ws;
  ws.on('close', (code, reason) => {
    const key = `${code} ${String(reason) || '-'}`;
    closes[key] = (closes[key] ?? 0) + 1;
    stats.connected--;
    if (cp.up) stats.accepted--;
    cp.up = false;
    for (const w of cp.pending.values()) w([4, '', 'GenericError', 'closed', {}]);
    cp.pending.clear();
    stats.reconnects++;
    setTimeout(() => void bring(cp, false), 1000 + Math.random() * 4000);
  });
  ws.on('error', () => stats.errors++);
  const b = performance.now();
  for (;;) {
    const r = await call(cp, 'BootNotification', { chargePointVendor: 'Bench', chargePointModel: 'B1' }).catch(() => undefined);
    if (ws.readyState !== WebSocket.OPEN) return;
    if ((r?.[2] as { status?: string } | undefined)?.status === 'Accepted') break;
    stats.pending++;
    await sleep(2000);
  }
  if (first) bootMs.push(performance.now() - b);
  cp.up = true;
  stats.accepted++;
}

function tick(cp: Cp, everyS: number, fn: () => Promise<unknown>): void {
  // spread over the interval, as a fleet's clocks are
  const once = (): void => { if (cp.up) void fn().catch(() => stats.meterLate++); };
  setTimeout(() => {
    once();
    setInterval(once, everyS * 1000);
  }, Math.random() * everyS * 1000);
}

process.on('message', (m: ToOcppWorker) => {
  if (m.type === 'start') {
    cfg = m;
    const queue = [...m.chargers];
    void Promise.all(Array.from({ length: m.concurrency }, async () => {
      for (let c = queue.shift(); c; c = queue.shift()) {
        const cp: Cp = { c, n: 0, pending: new Map(), wh: 0, up: false };
        cps.set(c.id, cp);
        await bring(cp, true);
        tick(cp, cfg.heartbeatS, () => call(cp, 'Heartbeat', {}));
        tick(cp, cfg.meterEveryS, () => meter(cp, cp.tx !== undefined ? 16 : 0));
      }
    }));
  } else if (m.type === 'report') {
    process.send!({ type: 'report', bootMs, stats, closes, answeredTx } satisfies FromOcppWorker);
  } else if (m.type === 'tx-burst') {
    // transaction MeterValues as fast as answered, for a SIGKILL to land among them
    void Promise.all(m.ids.map(async (id) => {
      const cp = cps.get(id);
      if (!cp || cp.tx === undefined) return 0;
      let n = 0;
      for (let i = 0; i < m.count && cp.up; i++) { await meter(cp, 16).then(() => n++, () => undefined); }
      return n;
    })).then((a) => process.send!({ type: 'tx-burst-done', answered: a.reduce((x, y) => x + y, 0) } satisfies FromOcppWorker));
  }
});
setInterval(() => process.send!({ type: 'stats', stats, closes } satisfies FromOcppWorker), 2000).unref();
process.on('disconnect', () => process.exit(0));
