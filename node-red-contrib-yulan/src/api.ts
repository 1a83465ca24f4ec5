/** Errors from the cloud API, with its stable code (E_NOT_FOUND, E_VALIDATION …). */
export class YulanApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
    this.name = 'YulanApiError';
  }
}

/** A small client for the cloud API (bearer token), JSON in and out. */
export class YulanApi {
  constructor(private readonly base: string, private readonly token: string, private readonly timeoutMs = 70_000) {}

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.base.replace(/\/+$/, '')}${path}`, {
        method,
        headers: { authorization: `Bearer ${this.token}`, accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (cause) {
      throw new YulanApiError(0, 'E_API_UNREACHABLE', `cannot reach the Yulan API at ${this.base}: ${(cause as Error).message}`);
    }
    const text = await res.text();
    let parsed: unknown;
    try { parsed = text ? JSON.parse(text) : undefined; } catch { parsed = text; }
    if (!res.ok) {
      const e = (parsed ?? {}) as { code?: string; message?: string };
      throw new YulanApiError(res.status, e.code ?? `E_HTTP_${res.status}`, e.message ?? `HTTP ${res.status}`);
    }
    return parsed as T;
  }
}
