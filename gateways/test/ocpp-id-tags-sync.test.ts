import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudIdTags } from '../src/ocpp/cloud-id-tags.js';
import { logger, startPlatform, waitFor, type Platform } from './harness.js';

/**
 * A sync asked for while another pull runs must still see a change made after that pull read
 * the list: a card the operator added a moment ago, or a charger's Authorize of it. The cloud
 * is real; an HTTP proxy in front of it holds the cloud's first answer, so the pull that read
 * the list before the change is still running when the change is made and sync() is called.
 */
let p: Platform;
let proxy: Server;
let proxyUrl = '';
const dir = mkdtempSync(join(tmpdir(), 'yulan-idtag-sync-'));
/** Answers the proxy is holding (the cloud has already produced them). */
const held: (() => void)[] = [];
let holdNext = false;

beforeAll(async () => {
  p = await startPlatform();
  const cloud = new URL(p.cloudUrl);
  proxy = createServer((req, res) => {
    const hold = holdNext;
    holdNext = false;
    const up = request({ host: cloud.hostname, port: cloud.port, path: req.url, method: req.method, headers: req.headers }, (answer: IncomingMessage) => {
      const chunks: Buffer[] = [];
      answer.on('data', (c: Buffer) => chunks.push(c));
      answer.on('end', () => {
        const send = (): void => { res.writeHead(answer.statusCode ?? 502, answer.headers).end(Buffer.concat(chunks)); };
        if (hold) held.push(send);
        else send();
      });
    });
    req.pipe(up);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
});
afterAll(async () => {
  for (const send of held.splice(0)) send();
  await new Promise((resolve) => proxy?.close(resolve));
  await p?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('id tag sync while a pull is running', () => {
  it('a sync asked for during a pull that read the list too early pulls once more, and that pull sees the change', async () => {
    const tags = new CloudIdTags({ dir, cloudUrl: proxyUrl, token: p.env.YULAN_GATEWAY_TOKEN!, syncMs: 3_600_000, logger });
    try {
      expect(await tags.sync()).toBe(true);
      const syncsBefore = tags.state().syncs;

      holdNext = true;
      const early = tags.sync();
      // the cloud has answered this pull (without the card) and the proxy holds the answer
      await waitFor(() => (held.length === 1 ? true : undefined), 'the first pull answered by the cloud and held');
      expect((await p.api('/api/v1/id-tags', { method: 'POST', json: { tag: 'late-card' } })).status).toBe(201);
      const late = tags.sync();
      const alsoLate = tags.sync();
      held.shift()!();

      expect(await early).toBe(true);
      expect(await late).toBe(true);
      expect(await alsoLate).toBe(true);
      expect(tags.info('late-card', 'xuhui')).toEqual({ status: 'Accepted' });
      // the two callers who arrived during the first pull shared one more pull
      expect(tags.state().syncs).toBe(syncsBefore + 2);

      // and with nothing running, a sync is one pull again
      expect(await tags.sync()).toBe(true);
      expect(tags.state().syncs).toBe(syncsBefore + 3);
    } finally {
      await tags.close();
    }
  });
});
