import { Channel, ConnectorStatus, ConnectorStatusName, Severity } from '@yulan/protos';
import type { Logger } from 'pino';
import type { BrokerLink as ChargerLink } from './link-base.js';
import type { IdTagInfo, IdTagLookup } from './id-tags.js';
import type { GatewayMetrics } from './metrics.js';
import {
  applyMeterValues, applyStatus, connectorStatus, emptyConnector, toReading, type ConnectorState, type MeterValue,
} from './ocpp-map.js';
import type { Outbox } from './outbox.js';
import { isAllowedTransition } from '@yulan/protos';

/** What the handlers need of the RPC connection (ocpp-rpc's client). */
export interface RpcPeer {
  handle(method: string, handler: (call: { params: unknown; messageId: string }) => unknown): void;
  call(method: string, params?: unknown, options?: Record<string, unknown>): Promise<unknown>;
}

export interface SessionContext {
  deviceId: string;
  link: ChargerLink;
  outbox: Outbox;
  idTags: IdTagLookup;
  metrics: GatewayMetrics;
  logger: Logger;
  heartbeatIntervalS: number;
  /** BootNotification was accepted on this connection (platform calls may go now). */
  onBooted?: () => void;
  /** a transaction opened or closed (the site cap re-splits) */
  onTransactionsChanged?: () => void;
}

type StartTx = { connectorId: number; idTag: string; meterStart: number; timestamp: string; reservationId?: number };

const SAFETY = new Set(['GroundFailure', 'OverCurrentFailure', 'OverVoltage', 'HighTemperature']);
const FIRMWARE_EVENTS: Record<string, string> = {
  Downloading: 'firmware.downloading', Downloaded: 'firmware.downloaded', Installing: 'firmware.installing',
  Installed: 'firmware.installed', DownloadFailed: 'firmware.failed', InstallationFailed: 'firmware.failed',
};
const now = (): string => new Date().toISOString();
const tsOf = (iso: string | undefined): number | undefined => {
  const t = iso === undefined ? NaN : Date.parse(iso);
  return Number.isFinite(t) ? t : undefined;
};

/**
 * One charge point's state at the gateway and its Core-profile handlers (charger →
 * platform). Transaction messages are written to the outbox in one durable SQLite
 * transaction together with their answer before the handler returns, so a CALLRESULT
 * always means "safe"; a retried message finds its stored answer and is queued once.
 */
export class ChargerSession {
  readonly connectors = new Map<number, ConnectorState>();
  readonly #c: SessionContext;

  constructor(c: SessionContext) {
    this.#c = c;
    // Transactions survive a gateway restart: a charger mid-session keeps its meter start.
    for (const tx of c.outbox.openTxs(c.deviceId)) {
      this.connectors.set(tx.connectorId, {
        ...emptyConnector(tx.connectorId), transactionId: String(tx.id), meterStartWh: tx.meterStartWh, meterWh: tx.meterStartWh,
      });
    }
  }

  connector(id: number): ConnectorState {
    return this.connectors.get(id) ?? emptyConnector(id);
  }

  /** The open transaction on a connector (for RemoteStopTransaction), if any. */
  transactionOn(connectorId: number): number | undefined {
    const tx = this.connectors.get(connectorId)?.transactionId;
    return tx ? Number(tx) : undefined;
  }

  attach(rpc: RpcPeer): void {
    const c = this.#c;
    const on = <P>(action: string, fn: (p: P) => unknown): void => {
      rpc.handle(action, async ({ params }) => {
        c.metrics.callsIn[action] = (c.metrics.callsIn[action] ?? 0) + 1;
        return fn(params as P);
      });
    };
    on<{ firmwareVersion?: string; chargePointVendor: string; chargePointModel: string }>('BootNotification', async (p) => {
      c.link.firmwareVersion = p.firmwareVersion ?? '';
      // Accepted once the charger's own broker session is up; until then Pending, and the
      // charger boots again after the interval (OCPP 1.6 §4.2).
      if (!(await c.link.ready(10_000))) return { status: 'Pending', currentTime: now(), interval: 30 };
      c.link.birth();
      c.link.publish(Channel.Event, c.link.eventBytes('charger.boot', Severity.INFO, `${p.chargePointVendor} ${p.chargePointModel} booted`, {
        vendor: p.chargePointVendor, model: p.chargePointModel, firmware_version: c.link.firmwareVersion,
      }));
      setImmediate(() => c.onBooted?.());
      return { status: 'Accepted', currentTime: now(), interval: c.heartbeatIntervalS };
    });
    on('Heartbeat', () => {
      // A reading per connector per heartbeat: an idle charger still shows it is alive in
      // telemetry (what a firmware campaign's health gate watches, docs/control.md §2.1).
      for (const s of this.connectors.values()) {
        if (s.connectorId > 0 && s.status !== ConnectorStatus.UNSPECIFIED) c.link.publish(Channel.Telemetry, c.link.telemetryBytes(toReading(s)));
      }
      return { currentTime: now() };
    });
    on<{ connectorId: number; errorCode: string; status: string; timestamp?: string; info?: string; vendorErrorCode?: string }>('StatusNotification', (p) => {
      this.#status(p);
      return {};
    });
    on<{ idTag: string }>('Authorize', async (p) => ({ idTagInfo: await c.idTags.authorize(p.idTag) }));
    on<StartTx>('StartTransaction', (p) => this.#start(p));
    on<{ transactionId: number; meterStop: number; timestamp: string; reason?: string; idTag?: string; transactionData?: MeterValue[] }>(
      'StopTransaction', (p) => this.#stop(p));
    on<{ connectorId: number; transactionId?: number; meterValue: MeterValue[] }>('MeterValues', (p) => {
      this.#meter(p);
      return {};
    });
    on('DataTransfer', () => ({ status: 'UnknownVendorId' }));
    on<{ status: string }>('FirmwareStatusNotification', (p) => {
      const type = FIRMWARE_EVENTS[p.status];
      if (type) {
        c.link.publish(Channel.Event, c.link.eventBytes(type, type === 'firmware.failed' ? Severity.WARNING : Severity.INFO,
          `firmware ${p.status}`, { ocpp_status: p.status, ...(type === 'firmware.failed' ? { reason: p.status } : {}) }));
      }
      return {};
    });
    on<{ status: string }>('DiagnosticsStatusNotification', (p) => {
      // What the charger says; the file's arrival itself is `diagnostics.uploaded` (diagnostics.ts).
      if (p.status !== 'Idle') {
        const failed = p.status === 'UploadFailed';
        c.link.publish(Channel.Event, c.link.eventBytes(failed ? 'diagnostics.upload_failed' : 'diagnostics.status', failed ? Severity.WARNING : Severity.INFO,
          `diagnostics ${p.status}`, { ocpp_status: p.status }));
      }
      return {};
    });
  }

  #status(p: { connectorId: number; errorCode: string; status: string; info?: string; timestamp?: string }): void {
    const c = this.#c;
    const prev = this.connector(p.connectorId);
    const to = connectorStatus(p.status);
    const next = applyStatus(prev, to, p.errorCode);
    this.connectors.set(p.connectorId, next);
    const from = prev.status;
    if (from !== ConnectorStatus.UNSPECIFIED && from !== to && !isAllowedTransition(from, to)) {
      c.metrics.transitionsOutsideTable++;
      c.logger.info({ deviceId: c.deviceId, from: ConnectorStatusName[from], to: p.status }, 'status transition outside the OCPP §4.9 table');
    }
    c.link.publish(Channel.Telemetry, c.link.telemetryBytes(toReading(next), tsOf(p.timestamp)));
    if (from !== to) {
      c.link.publish(Channel.Event, c.link.eventBytes('charger.status_changed', Severity.INFO,
        `${ConnectorStatusName[from] ?? 'UNSPECIFIED'} → ${ConnectorStatusName[to] ?? p.status}`, {
          from: ConnectorStatusName[from] ?? 'UNSPECIFIED', to: ConnectorStatusName[to] ?? p.status, connector_id: String(p.connectorId),
        }));
    }
    if (next.faultCode && next.faultCode !== prev.faultCode) {
      c.link.publish(Channel.Event, c.link.eventBytes('charger.fault', SAFETY.has(next.faultCode) ? Severity.CRITICAL : Severity.WARNING,
        `connector ${p.connectorId} faulted: ${next.faultCode}`, {
          fault_code: next.faultCode, connector_id: String(p.connectorId), ...(p.info ? { info: p.info } : {}),
        }));
    }
  }

  #start(p: StartTx): { transactionId: number; idTagInfo: IdTagInfo } {
    const c = this.#c;
    const key = `start|${c.deviceId}|${p.connectorId}|${p.timestamp}|${p.meterStart}|${p.idTag.toUpperCase()}`;
    const done = c.outbox.answer<{ transactionId: number; idTagInfo: IdTagInfo }>(key);
    if (done) { c.metrics.duplicateTransactionMessages++; return done; }
    const idTagInfo = c.idTags.info(p.idTag);
    const answer = c.outbox.atomically(() => {
      const startedMs = tsOf(p.timestamp) ?? Date.now();
      const id = c.outbox.startTx(c.deviceId, p.connectorId, p.idTag.toUpperCase(), p.meterStart, startedMs);
      const state: ConnectorState = { ...this.connector(p.connectorId), transactionId: String(id), meterStartWh: p.meterStart, meterWh: p.meterStart };
      this.connectors.set(p.connectorId, state);
      c.link.enqueue(Channel.Event, c.link.eventBytes('charger.session_started', Severity.INFO, `session ${id} started`, {
        transaction_id: String(id), connector_id: String(p.connectorId), id_tag: p.idTag, id_tag_status: idTagInfo.status,
        // the session used the operator's reservation (charger.reserve_now's reservation_id)
        ...(p.reservationId !== undefined ? { reservation_id: String(p.reservationId) } : {}),
      }));
      c.link.enqueue(Channel.Telemetry, c.link.telemetryBytes(toReading(state), startedMs));
      const a = { transactionId: id, idTagInfo };
      c.outbox.remember(key, a);
      return a;
    });
    c.metrics.transactionMessagesQueued++;
    void c.link.drain();
    c.onTransactionsChanged?.();
    return answer;
  }

  #stop(p: { transactionId: number; meterStop: number; timestamp: string; reason?: string; idTag?: string; transactionData?: MeterValue[] }): { idTagInfo?: IdTagInfo } {
    const c = this.#c;
    const key = `stop|${c.deviceId}|${p.transactionId}`;
    const done = c.outbox.answer<{ idTagInfo?: IdTagInfo }>(key);
    if (done) { c.metrics.duplicateTransactionMessages++; return done; }
    const tx = c.outbox.getTx(p.transactionId);
    const known = tx !== undefined && tx.deviceId === c.deviceId;
    const connectorId = known ? tx.connectorId : [...this.connectors.values()].find((s) => s.transactionId === String(p.transactionId))?.connectorId ?? 0;
    const answer = c.outbox.atomically(() => {
      let state = { ...this.connector(connectorId), transactionId: String(p.transactionId) };
      if (known) state.meterStartWh = tx.meterStartWh;
      if (p.transactionData) state = applyMeterValues(state, p.transactionData).state;
      state = applyStatus({ ...state, meterWh: p.meterStop }, state.status, state.faultCode || 'NoError');
      state.powerW = 0;
      state.currentA = 0;
      const stoppedMs = tsOf(p.timestamp) ?? Date.now();
      if (known) c.outbox.stopTx(p.transactionId, stoppedMs);
      const energyKwh = Math.max(0, p.meterStop - state.meterStartWh) / 1000;
      c.link.enqueue(Channel.Telemetry, c.link.telemetryBytes(toReading(state), stoppedMs));
      c.link.enqueue(Channel.Event, c.link.eventBytes('charger.session_stopped', known ? Severity.INFO : Severity.WARNING,
        `session ${p.transactionId} stopped (${p.reason ?? 'Local'})${known ? '' : ' — transaction unknown to the gateway'}`, {
          transaction_id: String(p.transactionId), reason: p.reason ?? 'Local', energy_kwh: energyKwh.toFixed(3),
          connector_id: String(connectorId), meter_stop_wh: String(p.meterStop),
        }));
      this.connectors.set(connectorId, { ...state, transactionId: '' });
      const a = p.idTag !== undefined ? { idTagInfo: c.idTags.info(p.idTag) } : {};
      c.outbox.remember(key, a);
      return a;
    });
    c.metrics.transactionMessagesQueued++;
    void c.link.drain();
    c.onTransactionsChanged?.();
    return answer;
  }

  #meter(p: { connectorId: number; transactionId?: number; meterValue: MeterValue[] }): void {
    const c = this.#c;
    const { state, skipped } = applyMeterValues(this.connector(p.connectorId), p.meterValue);
    c.metrics.sampledValuesSkipped += skipped;
    if (p.transactionId !== undefined && !state.transactionId) state.transactionId = String(p.transactionId);
    this.connectors.set(p.connectorId, state);
    const ts = tsOf(p.meterValue[p.meterValue.length - 1]?.timestamp);
    if (p.transactionId === undefined) {
      c.link.publish(Channel.Telemetry, c.link.telemetryBytes(toReading(state), ts));
      return;
    }
    const key = `mv|${c.deviceId}|${p.connectorId}|${p.transactionId}|${p.meterValue.map((m) => m.timestamp).join(',')}`;
    if (c.outbox.answer(key)) { c.metrics.duplicateTransactionMessages++; return; }
    c.outbox.atomically(() => {
      c.link.enqueue(Channel.Telemetry, c.link.telemetryBytes(toReading(state), ts));
      c.outbox.remember(key, {});
    });
    c.metrics.transactionMessagesQueued++;
    void c.link.drain();
  }
}
