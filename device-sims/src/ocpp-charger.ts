import { ConnectorStatus } from '@yulan/protos';
import type { Logger } from 'pino';
import WebSocket from 'ws';
import { checkChargerCommand, CURRENT_LIMIT_RANGE_A, executeChargerCommand } from './models/ev-charger-control.js';
import { defaultEvChargerConfig, initEvCharger, stepEvCharger, type EvChargerState } from './models/ev-charger.js';
import { playOcppFirmwareUpdate, type OcppFirmwareFault } from './ocpp-firmware.js';
import { OcppReservations } from './ocpp-reservation.js';
import type { FirmwareStore } from './firmware-store.js';
import { createRng, deriveSeed, type Rng } from './rng.js';

export interface OcppSimChargerOptions {
  /** the gateway's ws(s)://host:port/ocpp */
  gatewayUrl: string;
  /** PEM CA(s) to trust for wss:// (the "central system root certificate" a real charger is given) */
  ca?: string;
  id: string;
  /** AuthorizationKey = the device secret the cloud issued */
  secret: string;
  /** readings (MeterValues while charging) per second */
  rate: number;
  seed?: number;
  firmwareVersion?: string;
  /** the simulator's flash: the installed version survives a restart (as for the MQTT sims) */
  firmwareStore?: FirmwareStore;
  /** make UpdateFirmware fail at download or install (DownloadFailed / InstallationFailed) */
  firmwareFault?: OcppFirmwareFault;
  /** how long the charger stays away after a reset or a firmware reboot, ms (default 1000) */
  rebootMs?: number;
  /** no drivers arriving, faults or outages of its own: only the central system's requests change
   * its state (a test scripting a charger cannot then meet a random session half-way) */
  scripted?: boolean;
  logger: Logger;
}

const SCRIPTED = { sessionsPerDay: 0, faultsPerDay: 0, unavailablePerDay: 0 } as const;

/** OCPP ChargePointStatus names of the model's states. */
const OCPP_STATUS: Record<number, string> = {
  [ConnectorStatus.AVAILABLE]: 'Available', [ConnectorStatus.PREPARING]: 'Preparing', [ConnectorStatus.CHARGING]: 'Charging',
  [ConnectorStatus.SUSPENDED_EVSE]: 'SuspendedEVSE', [ConnectorStatus.SUSPENDED_EV]: 'SuspendedEV', [ConnectorStatus.FINISHING]: 'Finishing',
  [ConnectorStatus.RESERVED]: 'Reserved', [ConnectorStatus.UNAVAILABLE]: 'Unavailable', [ConnectorStatus.FAULTED]: 'Faulted',
};
const ocppStatus = (s: number): string => OCPP_STATUS[s] ?? 'Available';

/**
 * A simulated charge point speaking OCPP 1.6J (raw OCPP-J frames over `ws`) to the gateway,
 * driven by the same charger model as the MQTT simulator: each model transition becomes a
 * StatusNotification, a session StartTransaction / StopTransaction, and readings while
 * charging MeterValues. Remote calls from the platform go through the model's own command
 * checks, so both kinds of simulated charger behave alike.
 */
export class OcppSimCharger {
  #state: EvChargerState;
  readonly #rng: Rng;
  #ws: WebSocket | undefined;
  #n = 0;
  #chain: Promise<unknown> = Promise.resolve();
  readonly #pending = new Map<string, (frame: unknown[]) => void>();
  #timer: NodeJS.Timeout | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #retry: NodeJS.Timeout | undefined;
  #closed = false;
  #txId: number | undefined;
  #sessionStartWh = 0;
  #last = Date.now();
  #version: string;
  #rebooting = false;
  #updating = false;
  /** the twin's TxDefaultProfile and the site cap's ChargePointMaxProfile: the lower one holds */
  readonly #limits: { TxDefaultProfile?: number; ChargePointMaxProfile?: number } = {};
  /** the chargingProfileId each installed profile came with (ClearChargingProfile names it) */
  readonly #profileIds: { TxDefaultProfile?: number; ChargePointMaxProfile?: number } = {};
  readonly #reservations = new OcppReservations({ get: () => this.#state, set: (s) => { this.#state = s; } });

  constructor(private readonly o: OcppSimChargerOptions) {
    this.#version = o.firmwareStore?.get(o.id) ?? o.firmwareVersion ?? '1.0.0';
    this.#rng = createRng(deriveSeed(o.seed ?? 1, o.id));
    this.#state = initEvCharger(defaultEvChargerConfig(o.scripted ? SCRIPTED : {}), Date.now(), this.#rng);
  }

  /** the firmware it runs (and reports in BootNotification) */
  get firmwareVersion(): string {
    return this.#version;
  }

  get status(): string {
    return ocppStatus(this.#state.status);
  }

  /** the current limit its charging profiles leave it, A (0: none set yet) */
  get currentLimitA(): number {
    return this.#state.currentLimitA;
  }

  start(): void {
    const auth = Buffer.from(`${this.o.id}:${this.o.secret}`).toString('base64');
    const ws = new WebSocket(`${this.o.gatewayUrl}/${this.o.id}`, ['ocpp1.6'], { headers: { authorization: `Basic ${auth}` }, ...(this.o.ca ? { ca: this.o.ca } : {}) });
    this.#ws = ws;
    ws.on('open', () => void this.#boot());
    ws.on('message', (data) => this.#onFrame(String(data)));
    ws.on('error', (err) => this.o.logger.debug({ err, id: this.o.id }, 'ocpp socket error'));
    ws.on('close', () => {
      clearInterval(this.#timer);
      clearInterval(this.#heartbeat);
      for (const w of this.#pending.values()) w([4, '', 'GenericError', 'closed', {}]);
      this.#pending.clear();
      const rebooting = this.#rebooting;
      this.#rebooting = false;
      if (!this.#closed) this.#retry = setTimeout(() => this.start(), rebooting ? this.o.rebootMs ?? 1000 : 5000);
    });
  }

  #call(action: string, payload: unknown): Promise<unknown[]> {
    // One outstanding CALL at a time, as OCPP-J requires.
    const next = this.#chain.then(() => new Promise<unknown[]>((resolve) => {
      const ws = this.#ws;
      if (!ws || ws.readyState !== WebSocket.OPEN) return resolve([4, '', 'GenericError', 'not connected', {}]);
      const id = `${this.o.id.slice(0, 20)}-${++this.#n}`;
      this.#pending.set(id, resolve);
      ws.send(JSON.stringify([2, id, action, payload]));
    }));
    this.#chain = next.catch(() => undefined);
    return next;
  }

  async #boot(): Promise<void> {
    const res = await this.#call('BootNotification', { chargePointVendor: 'Yulan', chargePointModel: 'SimAC7', firmwareVersion: this.#version });
    const body = res[2] as { status?: string; interval?: number } | undefined;
    if (res[0] !== 3 || body?.status !== 'Accepted') {
      this.#retry = setTimeout(() => void this.#boot(), Math.max(5, body?.interval ?? 30) * 1000);
      return;
    }
    await this.#call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: this.status });
    this.#last = Date.now();
    this.#timer = setInterval(() => void this.#tick(), Math.max(200, 1000 / this.o.rate));
    // At the interval the central system asked for (§4.6): an idle charger's only report.
    this.#heartbeat = setInterval(() => void this.#call('Heartbeat', {}), Math.max(1, body.interval ?? 300) * 1000);
  }

  async #tick(): Promise<void> {
    const t = Date.now();
    this.#reservations.tick(t);
    const step = stepEvCharger(this.#state, t - this.#last, this.#rng);
    this.#last = t;
    this.#state = step.state;
    const ts = new Date(t).toISOString();
    const wh = Math.round(step.reading.meterKwh * 1000);
    for (const e of step.events) {
      if (e.type === 'charger.session_started') {
        this.#sessionStartWh = wh;
        const reservationId = this.#reservations.used();
        const r = await this.#call('StartTransaction', { connectorId: 1, idTag: this.#state.idTag || 'SIM-LOCAL', meterStart: wh, timestamp: ts, ...(reservationId !== undefined ? { reservationId } : {}) });
        this.#txId = (r[2] as { transactionId?: number } | undefined)?.transactionId;
      } else if (e.type === 'charger.session_stopped' && this.#txId !== undefined) {
        await this.#call('StopTransaction', { transactionId: this.#txId, meterStop: wh, timestamp: ts, reason: e.attributes.reason ?? 'Local' });
        this.#txId = undefined;
      } else if (e.type === 'charger.status_changed' || e.type === 'charger.fault') {
        if (e.type === 'charger.fault') continue;
        await this.#call('StatusNotification', { connectorId: 1, errorCode: this.#state.faultCode || 'NoError', status: this.status, timestamp: ts });
      }
    }
    if (this.#txId !== undefined) {
      const r = step.reading;
      await this.#call('MeterValues', {
        connectorId: 1, transactionId: this.#txId, meterValue: [{ timestamp: ts, sampledValue: [
          { value: String(wh), measurand: 'Energy.Active.Import.Register', unit: 'Wh' },
          { value: String(r.powerW), measurand: 'Power.Active.Import', unit: 'W' },
          { value: r.currentA.toFixed(2), measurand: 'Current.Import', unit: 'A' },
          { value: r.voltageV.toFixed(1), measurand: 'Voltage', unit: 'V' },
          { value: (this.#state.soc * 100).toFixed(1), measurand: 'SoC', unit: 'Percent' },
        ] }],
      });
    }
    void this.#sessionStartWh;
  }

  #onFrame(text: string): void {
    let f: unknown[];
    try { f = JSON.parse(text) as unknown[]; } catch { return; }
    if (f[0] === 3 || f[0] === 4) {
      const w = this.#pending.get(f[1] as string);
      if (w) { this.#pending.delete(f[1] as string); w(f); }
      return;
    }
    if (f[0] !== 2) return;
    const [, id, action, payload] = f as [number, string, string, Record<string, unknown>];
    void Promise.resolve(this.#handle(action, payload)).then((answer) =>
      this.#ws?.send(JSON.stringify(answer === undefined ? [4, id, 'NotImplemented', `${action} not supported`, {}] : [3, id, answer])));
  }

  /** A platform CALL through the model's command checks (ev-charger-control.ts). */
  #handle(action: string, p: Record<string, unknown>): Record<string, unknown> | undefined | Promise<Record<string, unknown>> {
    const run = (name: string, args: Record<string, string>): { ok: boolean; output?: Record<string, string> } => {
      const check = checkChargerCommand(this.#state, name, args);
      if (!check.ok) return { ok: false };
      const out = executeChargerCommand(this.#state, name, args);
      if (out.ok) this.#state = out.state;
      return { ok: out.ok, ...(out.output ? { output: out.output } : {}) };
    };
    switch (action) {
      case 'RemoteStartTransaction':
        // a reserved connector takes only its tag (or a child of its parent tag, asked with Authorize)
        return this.#reservations.mayStart(String(p.idTag), async (tag) => ((await this.#call('Authorize', { idTag: tag }))[2] as { idTagInfo?: { parentIdTag?: string } } | undefined)?.idTagInfo?.parentIdTag)
          .then((ok) => ({ status: ok && run('charger.start_session', { connector_id: String(p.connectorId ?? 1), id_tag: String(p.idTag) }).ok ? 'Accepted' : 'Rejected' }));
      case 'ReserveNow':
        return this.#reservations.reserveNow(p);
      case 'CancelReservation':
        return this.#reservations.cancel(p);
      case 'ClearCache':
        return { status: 'Accepted' }; // it keeps no authorization cache: nothing to clear
      case 'RemoteStopTransaction':
        return { status: p.transactionId === this.#txId && run('charger.stop_session', { connector_id: '1' }).ok ? 'Accepted' : 'Rejected' };
      case 'ChangeAvailability': {
        const r = run('charger.change_availability', { available: String(p.type === 'Operative') });
        return { status: r.ok ? (r.output?.ocpp_status ?? 'Accepted') : 'Rejected' };
      }
      case 'Reset': {
        const ok = run('charger.reset', { type: p.type === 'Hard' ? 'hard' : 'soft' }).ok;
        // A charge point reboots after answering: the socket drops and it boots again.
        if (ok) setTimeout(() => this.#reboot('reset'), 500);
        return { status: ok ? 'Accepted' : 'Rejected' };
      }
      case 'SetChargingProfile': {
        const prof = p.csChargingProfiles as { chargingProfileId?: number; chargingProfilePurpose?: string; chargingSchedule?: { chargingSchedulePeriod?: { limit?: number }[] } } | undefined;
        const limit = prof?.chargingSchedule?.chargingSchedulePeriod?.[0]?.limit;
        const purpose = prof?.chargingProfilePurpose;
        if (limit === undefined || (purpose !== 'TxDefaultProfile' && purpose !== 'ChargePointMaxProfile')) return { status: 'Rejected' };
        const next = { ...this.#limits, [purpose]: limit };
        const effective = Math.min(next.TxDefaultProfile ?? Infinity, next.ChargePointMaxProfile ?? Infinity);
        if (!run('charger.set_current_limit', { limit_a: String(effective) }).ok) return { status: 'Rejected' };
        this.#limits[purpose] = limit;
        this.#profileIds[purpose] = prof?.chargingProfileId;
        return { status: 'Accepted' };
      }
      case 'ClearChargingProfile': {
        // By id and/or purpose (OCPP 1.6 §6.5); none of ours matching: Unknown.
        const gone = (['TxDefaultProfile', 'ChargePointMaxProfile'] as const).filter((k) => this.#limits[k] !== undefined
          && (p.id === undefined || this.#profileIds[k] === p.id) && (p.chargingProfilePurpose === undefined || p.chargingProfilePurpose === k));
        if (gone.length === 0) return { status: 'Unknown' };
        for (const k of gone) { delete this.#limits[k]; delete this.#profileIds[k]; }
        // without a profile the charger may draw its hardware maximum
        const effective = Math.min(this.#limits.TxDefaultProfile ?? Infinity, this.#limits.ChargePointMaxProfile ?? Infinity, CURRENT_LIMIT_RANGE_A[1]);
        run('charger.set_current_limit', { limit_a: String(effective) });
        return { status: 'Accepted' };
      }
      case 'UnlockConnector':
        return { status: 'Unlocked' };
      case 'UpdateFirmware':
        this.#updateFirmware(String(p.location));
        return {};
      default:
        return undefined;
    }
  }

  #reboot(reason: string): void {
    this.#rebooting = true;
    this.#ws?.close(1000, reason);
  }

  /** Accepted at once (UpdateFirmware.conf is empty); progress follows as FirmwareStatusNotification. */
  #updateFirmware(location: string): void {
    // A second UpdateFirmware while one runs is answered but not started twice.
    if (this.#updating) return;
    this.#updating = true;
    void playOcppFirmwareUpdate(location, {
      report: async (status) => { await this.#call('FirmwareStatusNotification', { status }); },
      install: async (version) => {
        this.#version = version;
        if (this.o.firmwareStore) {
          this.o.firmwareStore.set(this.o.id, version);
          await this.o.firmwareStore.flush();
        }
      },
      reboot: () => this.#reboot('firmware installed'),
      ...(this.o.firmwareFault ? { fault: this.o.firmwareFault } : {}),
    }).then((r) => this.o.logger.info({ id: this.o.id, ...r }, 'firmware update finished'))
      .catch((err: unknown) => this.o.logger.warn({ err, id: this.o.id }, 'firmware update crashed'))
      .finally(() => { this.#updating = false; });
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    clearInterval(this.#heartbeat);
    clearTimeout(this.#retry);
    this.#ws?.close(1000, 'simulator stopping');
  }
}
