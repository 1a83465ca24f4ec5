import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { PortPlan } from '../src/ports.js';
import { runUp, type UpHandle } from '../src/up.js';
import { api, quietLogger, tempDir } from './support.js';

function listenOn(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}
const closeServer = (s: Server): Promise<void> => new Promise((r) => s.close(() => r()));

/** A plan whose n-th release that frees a held port hands that port to another listener
 * at once: the race CI met, made certain. */
class StealingPlan extends PortPlan {
  thief?: Server;
  stolen?: number;
  private n = 0;
  constructor(private readonly at: number) { super(); }
  override async release(...ports: number[]): Promise<void> {
    const held = ports.filter((p) => this.picked.has(p));
    await super.release(...ports);
    if (held.length > 0 && ++this.n === this.at) {
      this.stolen = held[0]!;
      this.thief = await listenOn(this.stolen);
    }
  }
}

describe('PortPlan', () => {
  it('holds a picked port until released, and recognises a failed listen on it', async () => {
    const plan = new PortPlan();
    const p = await plan.take(0);
    expect(await plan.take(4321)).toBe(4321);
    expect([...plan.picked]).toEqual([p]);
    const early = await listenOn(p).catch((err: NodeJS.ErrnoException) => err);
    expect((early as NodeJS.ErrnoException).code).toBe('EADDRINUSE');
    expect(plan.isPickedPortTaken(new Error('wrapped', { cause: early }))).toBe(true);
    expect(plan.isPickedPortTaken(Object.assign(new Error('x'), { code: 'EADDRINUSE', port: 4321 }))).toBe(false);
    await plan.release(p);
    const s = await listenOn(p);
    await closeServer(s);
    await plan.close();
  });
});

describe('yulan up on free ports when one is taken before its service listens', () => {
  const env = (dir: string): NodeJS.ProcessEnv => ({
    YULAN_DATA_DIR: dir,
    YULAN_MQTT_PORT: '0', YULAN_WS_PORT: '0', YULAN_HTTP_PORT: '0', YULAN_EDGE_HTTP_PORT: '0',
    YULAN_DEV_TLS: '0', YULAN_SIM_DEVICES: '0', YULAN_CARE_DEMO: '0', YULAN_SERIAL_DEMO: '0',
  });
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.reverse()) await c();
    cleanups.length = 0;
  });

  // 1st release with a held port: the broker's; 2nd: the cloud's; 3rd: the edge's.
  it.each([
    { what: 'the edge port (the cloud already made the admin token)', at: 3 },
    { what: 'the cloud port (before the cloud could store a token)', at: 2 },
  ])('starts again on other ports when $what is taken, and the admin token shown works', async ({ at }) => {
    const tmp = tempDir('yulan-up-ports-');
    cleanups.push(() => tmp.cleanup());
    const plans: StealingPlan[] = [];
    const warnings: string[] = [];
    const logger = quietLogger.child({});
    logger.warn = ((_obj: unknown, msg?: string) => { warnings.push(String(msg)); }) as typeof logger.warn;
    const up: UpHandle = await runUp(env(tmp.dir), logger, () => {}, {
      portPlan: () => { const p = new StealingPlan(plans.length === 0 ? at : 0); plans.push(p); return p; },
    });
    cleanups.push(() => up.close());
    for (const p of plans) if (p.thief) cleanups.push(() => closeServer(p.thief!));
    expect(plans).toHaveLength(2);
    expect(plans[0]!.stolen).toBeTypeOf('number');
    expect([up.httpPort, up.edgePort, up.mqttPort, up.wsPort]).not.toContain(plans[0]!.stolen);
    expect(warnings.some((w) => /free port was taken/.test(w))).toBe(true);
    // a first start: the token printed once must be the one the cloud accepts
    expect(up.adminToken).toBeTypeOf('string');
    const res = await api(`http://127.0.0.1:${up.httpPort}`, up.adminToken!, '/api/v1/devices');
    expect(res.status).toBe(200);
  });

  it('does not retry a configured port that is taken: it fails at once, naming it', async () => {
    const tmp = tempDir('yulan-up-ports-');
    cleanups.push(() => tmp.cleanup());
    const blocker = await listenOn(0);
    cleanups.push(() => closeServer(blocker));
    const port = (blocker.address() as { port: number }).port;
    const err = await runUp({ ...env(tmp.dir), YULAN_HTTP_PORT: String(port) }, quietLogger, () => {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(String((err as Error).message) + String((err as { code?: string }).code)).toMatch(/EADDRINUSE|in use/);
  });
});
