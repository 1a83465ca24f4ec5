// Child process of the `sta` benchmark: the edge query API over the SQLite store, or the
// cloud app over the registry, each in its own process (as deployed), reporting its port.
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { buildHttpApi, createMetrics, LatestCache, registerAirRoutes, SqliteStore } from '@yulan/edge';
import { buildApp, createHttpEdgeClient, digestToken, SqliteDeviceRepository } from '@yulan/cloud';

const logger = pino({ level: 'warn' });

async function main(): Promise<void> {
  const [role, file, edgeUrl, token] = process.argv.slice(2) as [string, string, string, string];
  if (role === 'edge') {
    const store = new SqliteStore(file);
    await store.init();
    const api = buildHttpApi({ token, store, latest: new LatestCache(), metrics: () => createMetrics(), outboxDepth: () => 0, logger: logger as never });
    registerAirRoutes(api, store);
    await api.listen({ host: '127.0.0.1', port: 0 });
    process.send?.({ port: (api.server.address() as AddressInfo).port });
  } else {
    const devices = new SqliteDeviceRepository({ file });
    const app = await buildApp({
      logger, devices, control: { connected: () => true, publishRevoke: async () => {} },
      edge: createHttpEdgeClient({ baseUrl: edgeUrl, token }), adminTokenDigest: digestToken('x'.repeat(40)), brokerToken: 'bench-broker-token',
      dashboardDir: null, rateLimit: { max: 1_000_000 }, sta: { rateLimitMax: 1_000_000 },
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    process.send?.({ port: (app.server.address() as AddressInfo).port });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`sta-server failed: ${String((err as Error).stack ?? err)}\n`);
  process.exit(1);
});
