import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebhookHeader, verifyWebhook } from '@yulan/protos';

/** One notification as the receiver saw it (docs/care.md §4). */
export interface Received {
  deliveryId: string;
  kind: string;
  alertId: string;
  deviceId: string;
  receivedAt: number;
  signatureOk: boolean;
}

/**
 * A webhook endpoint playing a family member's phone gateway: verifies each signature
 * with the channel secret (set once the cloud has issued it), answers 204 at once and
 * records the arrival time, so latency is measured at the moment of receipt.
 */
export class WebhookReceiver {
  readonly received: Received[] = [];
  secret: string | undefined;
  #server: Server | undefined;
  url = '';

  async start(): Promise<void> {
    this.#server = createServer((req, res) => {
      const at = Date.now();
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const h = (n: string): string | undefined => {
          const v = req.headers[n];
          return Array.isArray(v) ? v[0] : v;
        };
        const check = this.secret === undefined ? { ok: false } : verifyWebhook(this.secret, h(WebhookHeader.Timestamp), h(WebhookHeader.Signature), body, at);
        try {
          const msg = JSON.parse(body) as { deliveryId?: string; kind?: string; alert?: { id?: string; deviceId?: string } };
          this.received.push({
            deliveryId: String(msg.deliveryId ?? h(WebhookHeader.Delivery) ?? ''),
            kind: String(msg.kind ?? ''),
            alertId: String(msg.alert?.id ?? ''),
            deviceId: String(msg.alert?.deviceId ?? ''),
            receivedAt: at,
            signatureOk: check.ok,
          });
        } catch {
          // A body we cannot parse is still a delivery; recorded so it is never silently lost.
          this.received.push({ deliveryId: h(WebhookHeader.Delivery) ?? '', kind: 'unparseable', alertId: '', deviceId: '', receivedAt: at, signatureOk: check.ok });
        }
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => this.#server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/hook`;
  }

  async stop(): Promise<void> {
    const s = this.#server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
