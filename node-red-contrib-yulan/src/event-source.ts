/** One Server-Sent Event. */
export interface SseEvent { event: string; data: string; id: string | undefined }

export interface SseHandlers {
  open(): void;
  event(e: SseEvent): void;
  /** the stream ended or could not be opened; `status` is the HTTP status when there was one */
  down(reason: string, status?: number): void;
}

const MAX_DELAY_MS = 30_000;

/**
 * A small EventSource for Node (fetch + a streaming body; Node 20 has no EventSource):
 * reconnects by itself with growing delays (the server's `retry:` is the first one) and
 * sends the last event id it saw as `Last-Event-ID`, so the server can catch it up.
 * Refusals (401/403) are retried too, slowly: an operator may fix the token meanwhile.
 */
export class EventStream {
  readonly #abort = new AbortController();
  #lastId: string | undefined;
  #retryMs = 1000;
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly url: string, private readonly token: string, private readonly on: SseHandlers) {
    void this.#connect();
  }

  get lastEventId(): string | undefined {
    return this.#lastId;
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#abort.abort();
  }

  async #connect(): Promise<void> {
    if (this.#abort.signal.aborted) return;
    let res: Response;
    try {
      res = await fetch(this.url, {
        headers: { authorization: `Bearer ${this.token}`, accept: 'text/event-stream', ...(this.#lastId !== undefined ? { 'last-event-id': this.#lastId } : {}) },
        signal: this.#abort.signal,
      });
    } catch (err) {
      return this.#again(`cannot reach the Yulan API: ${(err as Error).message}`);
    }
    if (!res.ok || !res.body) {
      let code = `HTTP ${res.status}`;
      try { code = ((await res.json()) as { code?: string }).code ?? code; } catch { /* not JSON */ }
      return this.#again(code, res.status);
    }
    this.#failures = 0;
    this.on.open();
    const decoder = new TextDecoder();
    let buffer = '';
    let ev: { event: string; data: string[]; id: string | undefined } = { event: 'message', data: [], id: undefined };
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = buffer.search(/\r?\n/)) >= 0) {
          const line = buffer.slice(0, nl);
          buffer = buffer.slice(nl + (buffer[nl] === '\r' ? 2 : 1));
          if (line === '') {
            if (ev.id !== undefined) this.#lastId = ev.id;
            if (ev.data.length > 0) this.on.event({ event: ev.event, data: ev.data.join('\n'), id: ev.id });
            ev = { event: 'message', data: [], id: undefined };
            continue;
          }
          if (line.startsWith(':')) continue;
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'event') ev.event = value;
          else if (field === 'data') ev.data.push(value);
          else if (field === 'id') ev.id = value;
          else if (field === 'retry' && /^\d+$/.test(value)) this.#retryMs = Number(value);
        }
      }
      this.#again('the stream ended');
    } catch (err) {
      this.#again(`the stream broke: ${(err as Error).message}`);
    }
  }

  #again(reason: string, status?: number): void {
    if (this.#abort.signal.aborted) return;
    this.on.down(reason, status);
    this.#failures++;
    const refused = status === 401 || status === 403;
    const delay = refused ? MAX_DELAY_MS : Math.min(MAX_DELAY_MS, this.#retryMs * 2 ** Math.min(this.#failures - 1, 5));
    this.#timer = setTimeout(() => void this.#connect(), delay);
  }
}
