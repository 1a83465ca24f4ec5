import type { Logger } from 'pino';

/** Closes one resource, if there is one; logs instead of throwing. */
export type CloseStep = (what: string, fn: (() => Promise<unknown>) | undefined) => Promise<void>;

/**
 * Each step is bounded so one stuck resource (a client holding a connection open, a
 * broker that stopped answering) cannot keep the process from exiting.
 */
export function boundedCloseStep(log: Logger): CloseStep {
  return async (what, fn) => {
    if (!fn) return;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), 5000); });
    const r = await Promise.race([fn().catch((err: unknown) => log.warn({ err }, `${what} close failed`)), timedOut]);
    clearTimeout(timer);
    if (r === 'timeout') log.warn(`${what} did not close within 5 s; going on`);
  };
}
