import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// @fastify/static 10 asks for content-disposition 3, which declares Node ≥ 22 and is an
// ES module loaded with require(); the root package.json overrides it to 2.0.1 (CommonJS,
// Node ≥ 18, same `create` API). This pins that the override keeps downloads working.
describe('@fastify/static with the content-disposition override', () => {
  let dir: string;
  const app = Fastify();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'yulan-static-'));
    await writeFile(join(dir, '空气 report.csv'), 'a,b\n1,2\n');
    await app.register(fastifyStatic, { root: dir, serve: false });
    app.get('/dl', (_req, reply) => reply.download('空气 report.csv'));
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('sends an attachment header with an RFC 5987 file name and the file body', async () => {
    const res = await app.inject({ url: '/dl' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-disposition']).toMatch(/^attachment; filename="\?\? report\.csv"; filename\*=UTF-8''%E7%A9%BA%E6%B0%94%20report\.csv$/);
    expect(res.body).toBe('a,b\n1,2\n');
  });
});
