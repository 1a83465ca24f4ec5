import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { startHttpsListener, type HttpsListener } from '@yulan/protos';
import type { CloudConfig } from './config.js';

export interface CloudListeners {
  httpPort: number;
  /** the plain HTTP URL, on loopback when the cloud listens on every address */
  url: string;
  /** set when YULAN_TLS_CERT_FILE/KEY_FILE are: the HTTPS listener beside the plain one */
  https?: HttpsListener;
  httpsUrl?: string;
}

function hostOf(h: string): string {
  const host = h === '0.0.0.0' || h === '::' ? '127.0.0.1' : h;
  return host.includes(':') ? `[${host}]` : host;
}

/** Plain HTTP on config.plainHost and, with TLS files configured, HTTPS beside it: one app behind both. */
export async function listenCloud(app: FastifyInstance, config: CloudConfig, log: Logger): Promise<CloudListeners> {
  const plainHost = config.plainHost ?? config.httpHost;
  await app.listen({ host: plainHost, port: config.httpPort });
  const address = app.server.address();
  const httpPort = typeof address === 'object' && address !== null ? address.port : config.httpPort;
  const url = `http://${hostOf(plainHost)}:${httpPort}`;
  let https: HttpsListener | undefined;
  let httpsUrl: string | undefined;
  if (config.tls) {
    // The same routes, hooks and limits: Fastify's request handler behind a TLS server.
    https = await startHttpsListener((req, res) => app.routing(req, res), {
      files: config.tls, host: config.httpHost, port: config.tls.httpsPort, logger: log.child({ part: 'https' }),
    });
    httpsUrl = `https://${hostOf(config.httpHost) === '127.0.0.1' ? 'localhost' : hostOf(config.httpHost)}:${https.port}`;
  }
  if (plainHost !== config.httpHost) log.warn({ host: config.httpHost, plainHost }, 'plain HTTP listens on loopback only (YULAN_PLAIN_PUBLIC=true opens it)');
  return { httpPort, url, ...(https ? { https } : {}), ...(httpsUrl !== undefined ? { httpsUrl } : {}) };
}
