import { EdgeError, EdgeErrorCode } from '../errors.js';

/** A failed call to the cloud or a fallback receiver; `status` 0 = no HTTP answer. */
export class HttpCallError extends EdgeError {
  constructor(message: string, readonly status: number, options?: { cause?: unknown }) {
    super(EdgeErrorCode.Http, message, options);
    this.name = 'HttpCallError';
  }
}

export interface HttpAnswer {
  status: number;
  text: string;
}

/**
 * One HTTP call with a hard deadline and a bounded body: a cloud that is slow, hangs
 * mid-body or answers megabytes of garbage must not stall or bloat the edge.
 */
export async function httpCall(url: string, init: {
  method: 'GET' | 'POST'; headers?: Record<string, string>; body?: string; timeoutMs: number; maxBytes: number;
  /** Aborts on shutdown as well as on the deadline. */
  signal?: AbortSignal;
  /** https:// with a private CA (YULAN_TLS_CA_FILE): fetchTrustingCa from @yulan/protos */
  fetch?: typeof fetch;
}): Promise<HttpAnswer> {
  const deadline = AbortSignal.timeout(init.timeoutMs);
  const signal = init.signal ? AbortSignal.any([deadline, init.signal]) : deadline;
  let res: Response;
  try {
    res = await (init.fetch ?? fetch)(url, {
      method: init.method, signal, redirect: 'error',
      headers: { ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}), ...init.headers },
      ...(init.body !== undefined ? { body: init.body } : {}),
    });
  } catch (err) {
    throw new HttpCallError(`${init.method} ${redact(url)}: ${(err as Error).message}`, 0, { cause: err });
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    const reader = res.body?.getReader();
    while (reader) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > init.maxBytes) {
        await reader.cancel().catch(() => {});
        throw new HttpCallError(`${init.method} ${redact(url)}: body over ${init.maxBytes} bytes`, res.status);
      }
      chunks.push(Buffer.from(value));
    }
  } catch (err) {
    if (err instanceof HttpCallError) throw err;
    throw new HttpCallError(`${init.method} ${redact(url)}: ${(err as Error).message}`, 0, { cause: err });
  }
  return { status: res.status, text: Buffer.concat(chunks).toString('utf8') };
}

/** A URL fit for logs and `edgeNotifications`: no credentials, no query (tokens hide there). */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(invalid url)';
  }
}
