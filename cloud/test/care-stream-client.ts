/** One Server-Sent Events frame of the care page's live stream. */
export interface CareStreamEvent { event: string; data: Record<string, unknown> }

export interface CareStream {
  status: number;
  /** every `event:` frame so far, in order */
  events: CareStreamEvent[];
  /** `page` frames so far (data is the notification's PagePayload) */
  pages(): CareStreamEvent['data'][];
  /** resolves when the server ends the stream or the client cancels it */
  closed: Promise<void>;
  cancel(): void;
}

/** Opens GET /api/v1/care/stream as a browser's EventSource would, and collects its frames. */
export async function openCareStream(base: string, headers: Record<string, string>): Promise<CareStream> {
  const ctrl = new AbortController();
  const res = await fetch(`${base}/api/v1/care/stream`, { headers, signal: ctrl.signal });
  const events: CareStreamEvent[] = [];
  const closed = (async () => {
    if (!res.body) return;
    const dec = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += dec.decode(chunk, { stream: true });
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const event = /^event: (.*)$/m.exec(frame)?.[1];
          const data = /^data: (.*)$/m.exec(frame)?.[1];
          if (event !== undefined) events.push({ event, data: data ? (JSON.parse(data) as Record<string, unknown>) : {} });
        }
      }
    } catch {
      // cancelled by the test
    }
  })();
  return {
    status: res.status, events, closed,
    pages: () => events.filter((e) => e.event === 'page').map((e) => e.data),
    cancel: () => ctrl.abort(),
  };
}
