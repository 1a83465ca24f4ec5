import type { Logger } from 'pino';
import { ADMIN_TOKEN_KEY } from './auth-tokens.js';
import type { DeviceRepository } from './repositories/device-repository.js';

/**
 * Several clouds on one PostgreSQL database each check the admin token against a digest
 * in memory (read per request, so it must not cost a query). A rotation on one cloud
 * replaces its own digest at once; this re-reads the stored digest every `intervalMs` and
 * overwrites the in-memory one in place, so every other cloud refuses the old token within
 * that interval (docs/deploy.md, "Two clouds"). Not started on SQLite: one cloud per
 * data directory, and an offline rotation is refused while it runs.
 */
export function syncAdminToken(repo: DeviceRepository, live: Buffer, opts: { intervalMs?: number; logger: Logger }): { stop(): void; tick(): Promise<void> } {
  let stopped = false;
  const tick = async (): Promise<void> => {
    try {
      const stored = await repo.getSetting(ADMIN_TOKEN_KEY);
      if (stopped || stored === undefined) return;
      const digest = Buffer.from(stored, 'base64url');
      if (digest.length === live.length && !digest.equals(live)) {
        live.set(digest);
        opts.logger.warn('admin token changed on another cloud: the old token no longer works here');
      }
    } catch (err) {
      // Keep the digest we have: a database hiccup must not lock the administrator out.
      opts.logger.warn({ err: (err as Error).message }, 'admin token: re-reading the stored digest failed');
    }
  };
  const timer = setInterval(() => void tick(), opts.intervalMs ?? 5000);
  timer.unref();
  return { stop: () => { stopped = true; clearInterval(timer); }, tick };
}
