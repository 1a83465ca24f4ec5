import { once } from 'node:events';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createWriteBatcher } from '../src/write-batch.js';

// A real TCP pair on an ephemeral port: the server side is batched, the client reads.
async function pair(): Promise<{ server: Socket; client: Socket; close(): void }> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const accepted = once(srv, 'connection');
  const client = connect((srv.address() as AddressInfo).port, '127.0.0.1');
  const [server] = (await accepted) as [Socket];
  return { server, client, close: () => { client.destroy(); server.destroy(); srv.close(); } };
}

describe('write batching', () => {
  const open: (() => void)[] = [];
  afterEach(() => { for (const c of open.splice(0)) c(); });

  it('holds one turn of writes corked, then sends them all, in order', async () => {
    const { server, client, close } = await pair();
    open.push(close);
    const batcher = createWriteBatcher();
    batcher.attach(server);
    let got = Buffer.alloc(0);
    client.on('data', (d: Buffer) => { got = Buffer.concat([got, d]); });
    // Like Aedes: each packet written from its own immediate, all in one loop turn.
    await new Promise<void>((resolve) => {
      for (let i = 0; i < 50; i++) setImmediate(() => { server.write(Buffer.from(`p${i};`)); if (i === 49) resolve(); });
    });
    expect(server.writableCorked).toBe(1); // nothing has left yet
    expect(server.writableLength).toBeGreaterThan(0);
    await new Promise((r) => setImmediate(r));
    expect(server.writableCorked).toBe(0);
    const want = Array.from({ length: 50 }, (_, i) => `p${i};`).join('');
    while (got.length < want.length) await once(client, 'data');
    expect(got.toString()).toBe(want);
  });

  it('reports a full socket the same way, and ignores a socket destroyed while corked', async () => {
    const { server, close } = await pair();
    open.push(close);
    const batcher = createWriteBatcher();
    batcher.attach(server);
    const hwm = server.writableHighWaterMark;
    // write() still says "buffer full" while corked, so flow control and drain waits hold.
    expect(server.write(Buffer.alloc(hwm + 1))).toBe(false);
    server.destroy();
    await new Promise((r) => setImmediate(r)); // the release finds it destroyed: no throw
    expect(server.destroyed).toBe(true);
  });
});
