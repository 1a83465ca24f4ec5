import { ConnectorStatus } from '@yulan/protos';
import type { EvChargerState } from './models/ev-charger.js';

/** One reservation (the simulated charger has one connector, so at most one). */
interface Reservation { id: number; idTag: string; parentIdTag?: string; expiresMs: number }

/** The charger model the reservations act on (ocpp-charger.ts owns it). */
export interface ModelAccess {
  get(): EvChargerState;
  set(s: EvChargerState): void;
}

const S = ConnectorStatus;
const same = (a: string | undefined, b: string | undefined): boolean => a !== undefined && b !== undefined && a.toUpperCase() === b.toUpperCase();

/**
 * The simulated charger's side of OCPP 1.6 reservations (§5.13, §5.3): ReserveNow makes the
 * connector Reserved, only the reserved id tag (or one with the same parent) may start a
 * session on it, that StartTransaction carries the reservationId, and expiry or
 * CancelReservation make it Available again. The model shows it as ordinary transitions
 * (`reserved`, `pending.release`), so StatusNotification reports them.
 */
export class OcppReservations {
  #r: Reservation | undefined;

  constructor(private readonly model: ModelAccess) {}

  reserveNow(p: Record<string, unknown>, nowMs = Date.now()): { status: string } {
    const s = this.model.get();
    const id = Number(p.reservationId);
    const expiresMs = Date.parse(String(p.expiryDate));
    // connector 0 (any connector) is not supported here: ReserveConnectorZeroSupported false
    if (p.connectorId !== s.config.connectorId || !Number.isFinite(expiresMs) || expiresMs <= nowMs) return { status: 'Rejected' };
    const replacing = this.#r?.id === id; // 1.6: the same reservationId replaces the reservation
    if (this.#r && !replacing) return { status: 'Occupied' };
    if (!replacing) {
      if (s.status === S.FAULTED) return { status: 'Faulted' };
      if (s.inoperative || s.status === S.UNAVAILABLE) return { status: 'Unavailable' };
      if (s.status !== S.AVAILABLE || s.transactionId !== '' || s.pending.start !== undefined) return { status: 'Occupied' };
    }
    this.#r = { id, idTag: String(p.idTag), expiresMs, ...(typeof p.parentIdTag === 'string' ? { parentIdTag: p.parentIdTag } : {}) };
    this.model.set({ ...s, reserved: true });
    return { status: 'Accepted' };
  }

  cancel(p: Record<string, unknown>): { status: string } {
    if (this.#r === undefined || this.#r.id !== Number(p.reservationId)) return { status: 'Rejected' };
    this.#release();
    return { status: 'Accepted' };
  }

  /** Each step: an expired reservation gives the connector back. */
  tick(nowMs: number): void {
    if (this.#r && nowMs >= this.#r.expiresMs) this.#release();
  }

  /**
   * May a remote start with this tag go on the connector? Yes without a reservation, or for
   * the reserved tag, or for a tag whose parent (asked with Authorize) is the reservation's.
   */
  async mayStart(idTag: string, parentOf: (tag: string) => Promise<string | undefined>): Promise<boolean> {
    const r = this.#r;
    if (!r || same(idTag, r.idTag)) return true;
    return r.parentIdTag !== undefined && same(await parentOf(idTag), r.parentIdTag);
  }

  /** The session started: the reservation is used up; its id goes in StartTransaction. */
  used(): number | undefined {
    const r = this.#r;
    if (!r) return undefined;
    this.#r = undefined;
    this.model.set({ ...this.model.get(), reserved: false });
    return r.id;
  }

  #release(): void {
    this.#r = undefined;
    const s = this.model.get();
    this.model.set({ ...s, reserved: false, pending: { ...s.pending, release: true } });
  }
}
