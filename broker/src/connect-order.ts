/**
 * Which CONNECT of a client id may take over its session.
 *
 * Aedes lets the last CONNECT whose credential check finishes close the session holding
 * its id ([MQTT-3.1.4-2]). In a reconnect storm the cloud answers late and devices give up
 * on an attempt and connect again, so checks finish out of order and a stale attempt would
 * close the device's newer, live session. Here the newest *connection* wins: connections
 * are numbered when their socket is accepted (a device gives up on one before it opens the
 * next), and an attempt whose connection is already gone is refused.
 */
export class ConnectOrder {
  #seq = 0;
  readonly #opened = new WeakMap<object, { seq: number; at: number }>();
  /** Client id → order of the connection of its newest accepted CONNECT. */
  readonly #newest = new Map<string, number>();

  /** Call for every transport connection when it is accepted, before it is read. */
  opened(conn: object): void {
    this.#opened.set(conn, { seq: ++this.#seq, at: Date.now() });
  }

  /** The connection's order; a stream nobody stamped gets the next number. */
  orderOf(conn: object): number {
    return this.#opened.get(conn)?.seq ?? ++this.#seq;
  }

  /** Milliseconds since the connection was accepted, if it was stamped. */
  ageMs(conn: object): number | undefined {
    const o = this.#opened.get(conn);
    return o && Date.now() - o.at;
  }

  /** Why this CONNECT must not take over its client id, or undefined if it may. An empty
   * client id gets a generated, unique one: nothing to order. */
  staleReason(clientId: string, seq: number, conn: { destroyed?: boolean; readableEnded?: boolean }, clientClosed: boolean): string | undefined {
    if (clientId !== '' && (this.#newest.get(clientId) ?? 0) > seq) return 'a newer connection of this client id was accepted first';
    // A connection the device closed while it waited in the listen backlog delivers its
    // CONNECT and its FIN in one read; the caller waits one turn so the FIN is seen here.
    if (conn.destroyed === true || conn.readableEnded === true || clientClosed) return 'client left before its credentials were checked';
    return undefined;
  }

  accepted(clientId: string, seq: number): void {
    if (clientId !== '') this.#newest.set(clientId, seq);
  }

  /** Forgets the client id's order when the session that set it ends. */
  ended(clientId: string, seq: number): void {
    if (this.#newest.get(clientId) === seq) this.#newest.delete(clientId);
  }
}
