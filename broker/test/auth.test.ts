import fs from 'node:fs';
import net from 'node:net';
import mqttPacket from 'mqtt-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type BrokerHandle } from '../src/index.js';
import {
  CLOUD_PASSWORD,
  EDGE_PASSWORD,
  FakeDeviceAuth,
  logger,
  mqttClient,
  rawConnect,
  tempDir,
  testConfig,
  waitFor,
} from './helpers.js';

describe('broker authentication', () => {
  const dir = tempDir('auth');
  const auth = new FakeDeviceAuth();
  let broker: BrokerHandle;
  let port: number;

  beforeAll(async () => {
    auth.add('dev-ok');
    auth.add('dev-off', { disabled: true });
    broker = await startBroker(await testConfig(dir), logger, { deviceAuth: auth });
    port = broker.mqttPort;
  });
  afterAll(async () => {
    await broker?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a CONNECT abandoned while its credentials were checked cannot close the device\'s newer session', async () => {
    // A reconnect storm: the device times out its first attempt and connects again; the
    // cloud then answers the first attempt last. Its dead connection must not take over.
    auth.add('dev-storm');
    auth.delays = [600, 0];
    const stale = net.connect(port, '127.0.0.1');
    await new Promise((r) => stale.once('connect', r));
    stale.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'dev-storm', username: 'dev-storm', password: Buffer.from('secret-dev-storm'), keepalive: 0 }));
    await new Promise((r) => setTimeout(r, 100));
    stale.destroy();
    const before = broker.metrics().connectsAbandoned;
    const { socket, returnCode } = await rawConnect(port, { clientId: 'dev-storm', username: 'dev-storm', password: 'secret-dev-storm' });
    expect(returnCode).toBe(0);
    let closed = false;
    socket.once('close', () => { closed = true; });
    await waitFor(() => broker.metrics().connectsAbandoned === before + 1, 'the stale CONNECT answered');
    await new Promise((r) => setTimeout(r, 200));
    expect(closed).toBe(false);
    socket.destroy();
  });

  it('a CONNECT read late from a connection older than the live session cannot replace it', async () => {
    // The device gave up on its first connection (its CONNECT stuck, then read late by a
    // busy broker) and connected again; connection order, not CONNECT order, decides.
    auth.add('dev-slow-read');
    const older = net.connect(port, '127.0.0.1');
    await new Promise((r) => older.once('connect', r));
    older.on('error', () => undefined);
    const olderGot: Buffer[] = [];
    older.on('data', (d: Buffer) => olderGot.push(d));
    const olderClosed = new Promise((r) => older.once('close', r));
    await new Promise((r) => setTimeout(r, 50));
    const before = broker.metrics();
    const live = await rawConnect(port, { clientId: 'dev-slow-read', username: 'dev-slow-read', password: 'secret-dev-slow-read' });
    expect(live.returnCode).toBe(0);
    let liveClosed = false;
    live.socket.once('close', () => { liveClosed = true; });
    older.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'dev-slow-read', username: 'dev-slow-read', password: Buffer.from('secret-dev-slow-read'), keepalive: 0 }));
    await olderClosed;
    expect([...Buffer.concat(olderGot)]).toEqual([0x20, 0x02, 0x00, 0x03]);
    await new Promise((r) => setTimeout(r, 200));
    expect(liveClosed).toBe(false);
    expect(broker.metrics().sessionsReplaced).toBe(before.sessionsReplaced);
    expect(broker.metrics().connectsAbandoned).toBe(before.connectsAbandoned + 1);
    live.socket.destroy();
  });

  it('a CONNECT from a connection the device already closed cannot replace its live session', async () => {
    // Reconnect storm, seen in the harness: the device timed out an attempt and closed it,
    // but the busy broker accepted that socket from its backlog seconds later and read the
    // CONNECT and the FIN together; accepting it closed the device's live session.
    auth.add('dev-gone');
    const live = await rawConnect(port, { clientId: 'dev-gone', username: 'dev-gone', password: 'secret-dev-gone' });
    expect(live.returnCode).toBe(0);
    let liveClosed = false;
    live.socket.once('close', () => { liveClosed = true; });
    const before = broker.metrics();
    const gone = net.connect(port, '127.0.0.1');
    gone.on('error', () => undefined);
    await new Promise((r) => gone.once('connect', r));
    gone.end(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'dev-gone', username: 'dev-gone', password: Buffer.from('secret-dev-gone'), keepalive: 0 }));
    await waitFor(() => broker.metrics().connectsAbandoned === before.connectsAbandoned + 1, 'the closed connection refused');
    await new Promise((r) => setTimeout(r, 200));
    expect(liveClosed).toBe(false);
    expect(broker.metrics().sessionsReplaced).toBe(before.sessionsReplaced);
    live.socket.destroy();
  });

  it('a second CONNECT of a connected device replaces its session, and is counted', async () => {
    auth.add('dev-twice');
    const before = broker.metrics().sessionsReplaced;
    const first = await rawConnect(port, { clientId: 'dev-twice', username: 'dev-twice', password: 'secret-dev-twice' });
    const firstClosed = new Promise((r) => first.socket.once('close', r));
    const second = await rawConnect(port, { clientId: 'dev-twice', username: 'dev-twice', password: 'secret-dev-twice' });
    expect(second.returnCode).toBe(0);
    await firstClosed;
    expect(broker.metrics().sessionsReplaced).toBe(before + 1);
    second.socket.destroy();
  });

  it('a CONNECT overtaken by a newer one of the same device is refused when its check finishes last', async () => {
    auth.add('dev-late');
    auth.delays = [600, 0];
    const stale = net.connect(port, '127.0.0.1'); // stays open: only arrival order tells
    await new Promise((r) => stale.once('connect', r));
    const staleClosed = new Promise((r) => stale.once('close', r));
    stale.on('error', () => undefined);
    const staleGot: Buffer[] = [];
    stale.on('data', (d: Buffer) => staleGot.push(d));
    stale.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'dev-late', username: 'dev-late', password: Buffer.from('secret-dev-late'), keepalive: 0 }));
    await new Promise((r) => setTimeout(r, 100));
    const { socket, returnCode } = await rawConnect(port, { clientId: 'dev-late', username: 'dev-late', password: 'secret-dev-late' });
    expect(returnCode).toBe(0);
    let closed = false;
    socket.once('close', () => { closed = true; });
    await staleClosed; // the stale attempt is refused ("server unavailable") and cut
    expect([...Buffer.concat(staleGot)]).toEqual([0x20, 0x02, 0x00, 0x03]);
    await new Promise((r) => setTimeout(r, 200));
    expect(closed).toBe(false);
    socket.destroy();
  });

  it('accepts a device whose client id, username and secret match', async () => {
    const { socket, returnCode } = await rawConnect(port, { clientId: 'dev-ok', username: 'dev-ok', password: 'secret-dev-ok' });
    expect(returnCode).toBe(0);
    socket.destroy();
  });

  it('refuses a wrong secret and an unknown device with "bad username or password"', async () => {
    const before = broker.metrics().authFailures;
    const wrong = await rawConnect(port, { clientId: 'dev-ok', username: 'dev-ok', password: 'nope' });
    const unknown = await rawConnect(port, { clientId: 'ghost', username: 'ghost', password: 'whatever' });
    expect(wrong.returnCode).toBe(4);
    expect(unknown.returnCode).toBe(4);
    expect(broker.metrics().authFailures).toBe(before + 2);
    wrong.socket.destroy();
    unknown.socket.destroy();
  });

  it('refuses a disabled device with "not authorized"', async () => {
    const r = await rawConnect(port, { clientId: 'dev-off', username: 'dev-off', password: 'secret-dev-off' });
    expect(r.returnCode).toBe(5);
    r.socket.destroy();
  });

  it('refuses missing username or password (no anonymous access)', async () => {
    const anon = await rawConnect(port, { clientId: 'dev-ok' });
    const noPass = await rawConnect(port, { clientId: 'dev-ok', username: 'dev-ok' });
    const emptyPass = await rawConnect(port, { clientId: 'dev-ok', username: 'dev-ok', password: '' });
    expect([anon.returnCode, noPass.returnCode, emptyPass.returnCode]).toEqual([4, 4, 4]);
    for (const r of [anon, noPass, emptyPass]) r.socket.destroy();
  });

  it('rejects a zero-length client id with clean session off (MQTT-3.1.3-8)', async () => {
    const r = await rawConnect(port, { clientId: '', clean: false, username: 'edge', password: EDGE_PASSWORD });
    expect(r.returnCode).toBe(2);
    r.socket.destroy();
    // With clean session on a server may assign an id, but Yulan binds every id to an
    // identity (devices: their id; services: "<username>:…"), so it is refused too.
    const anon = await rawConnect(port, { clientId: '', clean: true, username: 'edge', password: EDGE_PASSWORD });
    expect(anon.returnCode).toBe(2);
    anon.socket.destroy();
  });

  it('binds service client ids to "<username>:" so a device id can never collide with a service', async () => {
    const deviceLike = await rawConnect(port, { clientId: 'edge-1', username: 'edge', password: EDGE_PASSWORD });
    expect(deviceLike.returnCode).toBe(2);
    deviceLike.socket.destroy();
    const foreign = await rawConnect(port, { clientId: 'cloud:1', username: 'edge', password: EDGE_PASSWORD });
    expect(foreign.returnCode).toBe(2);
    foreign.socket.destroy();
    const ok = await rawConnect(port, { clientId: 'edge:main', username: 'edge', password: EDGE_PASSWORD });
    expect(ok.returnCode).toBe(0);
    ok.socket.destroy();
  });

  it('rejects a device whose client id differs from its username', async () => {
    const r = await rawConnect(port, { clientId: 'someone-else', username: 'dev-ok', password: 'secret-dev-ok' });
    expect(r.returnCode).toBe(2);
    r.socket.destroy();
  });

  it('accepts service accounts with the right password only', async () => {
    const edge = await mqttClient(`mqtt://127.0.0.1:${port}`, { clientId: 'edge:1', username: 'edge', password: EDGE_PASSWORD });
    const cloud = await mqttClient(`mqtt://127.0.0.1:${port}`, { clientId: 'cloud:1', username: 'cloud', password: CLOUD_PASSWORD });
    expect(edge.connected && cloud.connected).toBe(true);
    await Promise.all([edge.endAsync(), cloud.endAsync()]);
    const bad = await rawConnect(port, { clientId: 'edge:2', username: 'edge', password: CLOUD_PASSWORD });
    expect(bad.returnCode).toBe(4);
    bad.socket.destroy();
  });

  it('answers "server unavailable" for an unknown device when the cloud is unreachable', async () => {
    const before = broker.metrics().authUnavailable;
    auth.unavailable = true;
    try {
      const r = await rawConnect(port, { clientId: 'dev-ok', username: 'dev-ok', password: 'secret-dev-ok' });
      expect(r.returnCode).toBe(3);
      r.socket.destroy();
    } finally {
      auth.unavailable = false;
    }
    expect(broker.metrics().authUnavailable).toBe(before + 1);
  });

  it('refuses an MQTT 3.1.1 client through the mqtt.js client too (error carries the code)', async () => {
    await expect(
      mqttClient(`mqtt://127.0.0.1:${port}`, { clientId: 'dev-ok', username: 'dev-ok', password: 'bad' }),
    ).rejects.toMatchObject({ code: 4 });
  });
});
