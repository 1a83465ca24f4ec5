import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runUp, type UpHandle } from '../src/up.js';
import { Bootloader, openSerialLink } from '../../device-sims/src/bootloader/index.js';
import { ptyPair, runInProcess, socatAvailable } from './serial-support.js';
import { connect, eventually, quietLogger, readSecrets, tempDir } from './support.js';
import { solve } from '../../cloud/src/open/proof-of-work.js';

describe('engineer commands without a cloud configured', () => {
  it('say which settings are missing (exit 2)', async () => {
    for (const args of [['device', 'list'], ['cmd', 'd1', 'reboot'], ['twin', 'get', 'd1'], ['fw', 'campaign', 'show', 'c1']]) {
      const r = await runInProcess(args, {});
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('YULAN_CLOUD_URL and YULAN_ADMIN_TOKEN must be set');
    }
    const tail = await runInProcess(['tail', 'xuhui'], {});
    expect(tail.code).toBe(2);
    expect(tail.stderr).toContain('YULAN_EDGE_MQTT_PASSWORD');
  });

  it('reject bad arguments with usage (exit 2) before any network call', async () => {
    const env = { YULAN_CLOUD_URL: 'http://127.0.0.1:9', YULAN_ADMIN_TOKEN: 'x'.repeat(40) };
    expect((await runInProcess(['cmd', 'd1'], env)).stderr).toContain('a device id and a command name are required');
    expect((await runInProcess(['cmd', 'd1', 'reboot', 'oops'], env)).stderr).toContain('expected key=value, got "oops"');
    expect((await runInProcess(['cmd', 'd1', 'reboot', '--timeout', 'soon'], env)).stderr).toContain('--timeout must be a number');
    expect((await runInProcess(['twin', 'set', 'd1'], env)).stderr).toContain('needs at least one key=value');
    expect((await runInProcess(['fw', 'upload', 'x.bin', '--version', '1.0.0', '--kind', 'env-monitor', '--key-id', 'k'], env)).stderr).toContain('exactly one of --signature and --sign-key');
    expect((await runInProcess(['device', 'frob'], env)).code).toBe(2);
    const down = await runInProcess(['device', 'list'], env);
    expect(down.code).toBe(6);
    expect(down.stderr).toContain('cannot reach the cloud at http://127.0.0.1:9');
  });
});

// A real platform, as `yulan up` starts it, on ephemeral ports; commands run in-process.
describe('engineer commands against a running cloud', () => {
  const tmp = tempDir('yulan-cmds-');
  let up: UpHandle;
  let env: NodeJS.ProcessEnv;
  const keys = generateKeyPairSync('ed25519');

  beforeAll(async () => {
    const keysFile = join(tmp.dir, 'firmware-keys.json');
    writeFileSync(keysFile, JSON.stringify([{ id: 'ops-1', publicKeyPem: keys.publicKey.export({ type: 'spki', format: 'pem' }) }]));
    writeFileSync(join(tmp.dir, 'ops-1.pem'), keys.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    up = await runUp({
      YULAN_DATA_DIR: tmp.dir, YULAN_MQTT_PORT: '0', YULAN_WS_PORT: '0', YULAN_HTTP_PORT: '0', YULAN_EDGE_HTTP_PORT: '0',
      YULAN_MQTT_HOST: '127.0.0.1', YULAN_HTTP_HOST: '127.0.0.1', YULAN_OCPP_PORT: '0', YULAN_SIM_OCPP: '0', YULAN_SIM_DEVICES: '1', YULAN_SIM_RATE: '4', YULAN_SIM_SITES: 'xuhui',
      // The serial demo runs: its env monitor (env-serial-1, firmwareUpdates "none") must be
      // left out of the campaign over xuhui's monitors below.
      YULAN_CARE_DEMO: '0', YULAN_FIRMWARE_KEYS: keysFile,
    }, quietLogger, () => {});
    env = {
      YULAN_CLOUD_URL: `http://127.0.0.1:${up.httpPort}`, YULAN_ADMIN_TOKEN: up.adminToken!,
      YULAN_MQTT_URL: `mqtt://127.0.0.1:${up.mqttPort}`, YULAN_EDGE_MQTT_PASSWORD: readSecrets(tmp.dir).edgeMqttPassword!,
    };
  });
  afterAll(async () => {
    await up?.close();
    tmp.cleanup();
  });

  it('site add and list: coordinates and zh/en names; a duplicate or an off-globe latitude is refused', async () => {
    const add = await runInProcess(['site', 'add', 'minhang', '--name-zh', '闵行区', '--name-en', 'Minhang District', '--lat', '31.1129', '--lon', '121.3816'], env);
    expect(add.code).toBe(0);
    expect(add.stdout).toContain('registered site minhang (闵行区 / Minhang District) at 31.1129, 121.3816');
    const dup = await runInProcess(['site', 'add', 'minhang', '--name-zh', 'x', '--name-en', 'x', '--lat', '1', '--lon', '1'], env);
    expect(dup.code).toBe(4);
    expect(dup.stderr).toMatch(/HTTP 409.*E_DUPLICATE/);
    const off = await runInProcess(['site', 'add', 'moon', '--name-zh', '月', '--name-en', 'Moon', '--lat', '95', '--lon', '1'], env);
    expect(off.code).toBe(2);
    expect(off.stderr).toContain('--lat must be a number between -90 and 90');
    expect((await runInProcess(['site', 'add', 'x1', '--lat', '1', '--lon', '1'], env)).stderr).toContain('--name-zh, --name-en, --lat and --lon are required');
    const list = await runInProcess(['site', 'list'], env);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/minhang\s+闵行区\s+Minhang District\s+31\.1129\s+121\.3816/);
    const json = JSON.parse((await runInProcess(['site', 'list', '--json'], env)).stdout) as { items: { id: string; lat: number }[] };
    expect(json.items.find((x) => x.id === 'minhang')?.lat).toBe(31.1129);
  });

  it('yulan up registers the simulated sites with coordinates; a complaint on the public API is listed, shown (contact audited) and closed with the CLI', async () => {
    const sites = JSON.parse((await runInProcess(['site', 'list', '--json'], env)).stdout) as { items: { id: string; nameZh: string; lat: number }[] };
    expect(sites.items.find((x) => x.id === 'xuhui')).toMatchObject({ nameZh: '徐汇区', lat: 31.1885 });
    const base = env.YULAN_CLOUD_URL as string;
    const ch = await (await fetch(`${base}/open/v1/complaints/challenge`)).json() as { challenge: string; bits: number };
    const sent = await fetch(`${base}/open/v1/complaints`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ site: 'xuhui', kind: 'dust', contact: '021-5555 0101', challenge: ch.challenge, nonce: solve(ch.challenge, ch.bits) }),
    });
    expect(sent.status).toBe(201);
    const { id, receipt } = await sent.json() as { id: string; receipt: string };
    const list = await runInProcess(['complaint', 'list', '--status', 'open'], env);
    expect(list.stdout).toMatch(new RegExp(`${id}\\s+xuhui\\s+dust\\s+\\S+\\s+open\\s+yes`));
    expect(list.stdout).not.toContain('5555');
    // the evidence: the site's env monitor as the edge had it
    const shown = await runInProcess(['complaint', 'show', id], env);
    expect(shown.stdout).toContain('contact: on file');
    expect(shown.stdout).toMatch(/env-monitor|pm25_ugm3|no reading/);
    expect((await runInProcess(['complaint', 'show', id, '--contact'], env)).code).toBe(2); // needs a reason
    expect((await runInProcess(['complaint', 'show', id, '--contact', '--reason', 'call back'], env)).stdout).toContain('contact: 021-5555 0101');
    const closed = await runInProcess(['complaint', 'close', id, '--resolution', 'site watered down'], env);
    expect(closed.stdout).toContain(`${id}: closed (site watered down); contact erased`);
    expect((await runInProcess(['complaint', 'close', id, '--resolution', 'again'], env)).code).toBe(4);
    const status = await (await fetch(`${base}/open/v1/complaints/receipt/${receipt}`)).json() as { status: string; resolution: string };
    expect(status).toMatchObject({ status: 'closed', resolution: 'site watered down' });
    expect((await runInProcess(['complaint', 'show', 'nope'], env)).code).toBe(2);
  });

  it('device add, list, show, disable and enable', async () => {
    const add = await runInProcess(['device', 'add', '--site', 'pudong', '--kind', 'env-monitor', '--id', 'env-cli-1', '--json'], env);
    expect(add.code).toBe(0);
    const added = JSON.parse(add.stdout) as { device: { id: string }; secret: string };
    expect(added.device.id).toBe('env-cli-1');
    expect(added.secret.length).toBeGreaterThan(20);
    const dup = await runInProcess(['device', 'add', '--site', 'pudong', '--kind', 'env-monitor', '--id', 'env-cli-1'], env);
    expect(dup.code).toBe(4);
    expect(dup.stderr).toMatch(/HTTP 409.*E_DUPLICATE/);

    const list = await runInProcess(['device', 'list', '--site', 'pudong'], env);
    expect(list.code).toBe(0);
    expect(list.stdout.split('\n')[0]).toMatch(/^ID\s+SITE\s+KIND\s+STATUS/);
    expect(list.stdout).toMatch(/env-cli-1\s+pudong\s+env-monitor\s+offline/);

    expect((await runInProcess(['device', 'disable', 'env-cli-1'], env)).stdout).toMatch(/env-cli-1: disabled \(revoke (published|pending)\)/);
    const shown = JSON.parse((await runInProcess(['device', 'show', 'env-cli-1', '--json'], env)).stdout) as { status: string };
    expect(shown.status).toBe('disabled');
    expect((await runInProcess(['device', 'enable', 'env-cli-1'], env)).code).toBe(0);
    const missing = await runInProcess(['device', 'show', 'nope-1'], env);
    expect(missing.code).toBe(4);
    expect(missing.stderr).toContain('E_NOT_FOUND');

    // rotate-secret: a new secret shown once; the old one no longer logs in, the new one does
    const login = (secret: string) => connect(`mqtt://127.0.0.1:${up.mqttPort}`, { clientId: 'env-cli-1', username: 'env-cli-1', password: secret });
    const before = await login(added.secret);
    await before.endAsync();
    const rotated = await runInProcess(['device', 'rotate-secret', 'env-cli-1', '--json'], env);
    expect(rotated.stderr).toBe('');
    const fresh = (JSON.parse(rotated.stdout) as { secret: string }).secret;
    expect(fresh).not.toBe(added.secret);
    await expect(login(added.secret)).rejects.toThrow(/Bad username or password|Not authorized/i);
    const after = await login(fresh);
    await after.endAsync();
    expect((await runInProcess(['device', 'rotate-secret', 'nope-1'], env)).code).toBe(4);
  });

  it('twin set and get, with the cloud naming a bad setting', async () => {
    await runInProcess(['device', 'add', '--site', 'pudong', '--kind', 'ev-charger', '--id', 'ch-cli-1'], env);
    const set = await runInProcess(['twin', 'set', 'ch-cli-1', 'current_limit_a=16', 'report_interval_s=30'], env);
    expect(set.stderr).toBe('');
    expect(set.stdout).toMatch(/desired v1/);
    expect(set.stdout).toMatch(/current_limit_a\s+16/);
    const get = JSON.parse((await runInProcess(['twin', 'get', 'ch-cli-1', '--json'], env)).stdout) as { desired: { version: number; settings: Record<string, number> } };
    expect(get.desired).toMatchObject({ version: 1, settings: { current_limit_a: 16, report_interval_s: 30 } });
    const bad = await runInProcess(['twin', 'set', 'ch-cli-1', 'current_limit_a=500'], env);
    expect(bad.code).toBe(4);
    expect(bad.stderr).toContain('current_limit_a');
    const stale = await runInProcess(['twin', 'set', 'ch-cli-1', 'current_limit_a=20', '--version', '0'], env);
    expect(stale.code).toBe(4);
  });

  it('cmd queues a command and explains a refused one', async () => {
    const sent = await runInProcess(['cmd', 'ch-cli-1', 'charger.set_current_limit', 'limit_a=16', '--json'], env);
    expect(sent.stderr).toBe('');
    const view = JSON.parse(sent.stdout) as { id: string; status: string; args: Record<string, string> };
    expect(view.status).toBe('queued'); // the device never connected
    expect(view.args).toEqual({ limit_a: '16' });
    const bad = await runInProcess(['cmd', 'ch-cli-1', 'charger.fly'], env);
    expect(bad.code).toBe(4);
    expect(bad.stderr).toContain('charger.fly');
  });

  it('fw upload signs locally; a campaign is created, shown, paused and aborted', async () => {
    const image = join(tmp.dir, 'env-2.0.0.bin');
    writeFileSync(image, Buffer.alloc(4096, 7));
    const up1 = await runInProcess(['fw', 'upload', image, '--version', '2.0.0', '--kind', 'env-monitor', '--key-id', 'ops-1', '--sign-key', join(tmp.dir, 'ops-1.pem'), '--json'], env);
    expect(up1.stderr).toBe('');
    const fw = JSON.parse(up1.stdout) as { id: string; size: number };
    expect(fw.size).toBe(4096);
    const forged = await runInProcess(['fw', 'upload', image, '--version', '2.0.1', '--kind', 'env-monitor', '--key-id', 'ops-1', '--signature', Buffer.alloc(64).toString('base64')], env);
    expect(forged.code).toBe(4);

    const serial = await runInProcess(['device', 'show', 'env-serial-1', '--json'], env);
    expect(JSON.parse(serial.stdout)).toMatchObject({ kind: 'env-monitor', site: 'xuhui', firmwareUpdates: 'none' });
    const created = await runInProcess(['fw', 'campaign', 'create', '--firmware', fw.id, '--kind', 'env-monitor', '--site', 'xuhui', '--stages', '0.5,1', '--spread', '0', '--json'], env);
    expect(created.stderr).toBe('');
    const c = JSON.parse(created.stdout) as { id: string; status: string; devices: number };
    expect(c.devices).toBe(1); // the simulated monitor; not the serial one
    const show = await runInProcess(['fw', 'campaign', 'show', c.id], env);
    expect(show.stdout).toContain(c.id);
    const paused = await runInProcess(['fw', 'campaign', 'pause', c.id, '--json'], env);
    expect(paused.stderr).toBe('');
    expect((JSON.parse(paused.stdout) as { status: string }).status).toBe('paused');
    // One live campaign per device: a second one for the same devices is refused, naming the first.
    const second = await runInProcess(['fw', 'campaign', 'create', '--firmware', fw.id, '--kind', 'env-monitor', '--site', 'xuhui',
      '--update-timeout', '600', '--report-every', '5', '--missed-reports', '4', '--reoffer', '30', '--max-offers', '3', '--deadline', '3600', '--min-sample', '3'], env);
    expect(second.code).not.toBe(0);
    expect(second.stderr).toContain(`claimed by live campaign ${c.id}`);
    const devices = await runInProcess(['fw', 'campaign', 'show', c.id, '--devices', '--status', 'waiting,scheduled,pending,sent,downloading,verifying,installing,soaking,succeeded'], env);
    expect(devices.stderr).toBe('');
    expect(devices.stdout).toMatch(/device\s+stage\s+status\s+version\s+offers\s+online\s+reason/i);
    expect(devices.stdout).toMatch(/env-xuhui-\d{4}\s+[12]\s+\w+/);
    const badStatus = await runInProcess(['fw', 'campaign', 'show', c.id, '--devices', '--status', 'frobbed'], env);
    expect(badStatus.code).not.toBe(0);
    expect(badStatus.stderr).toContain('unknown status "frobbed"');
    const aborted = await runInProcess(['fw', 'campaign', 'abort', c.id, '--json'], env);
    expect(aborted.code).toBe(0);
    expect((JSON.parse(aborted.stdout) as { status: string }).status).toMatch(/abort/);
    // Options reach the campaign's policy.
    const third = await runInProcess(['fw', 'campaign', 'create', '--firmware', fw.id, '--kind', 'env-monitor', '--site', 'xuhui', '--json',
      '--update-timeout', '600', '--report-every', '5', '--missed-reports', '4', '--reoffer', '30', '--max-offers', '3', '--deadline', '3600', '--min-sample', '3', '--seed', '7'], env);
    expect(third.stderr).toBe('');
    expect((JSON.parse(third.stdout) as { policy: Record<string, number> }).policy).toMatchObject({
      updateTimeoutSec: 600, reportEverySec: 5, missedReports: 4, reofferSec: 30, maxOffers: 3, deadlineSec: 3600, minSample: 3, seed: 7,
    });
    await runInProcess(['fw', 'campaign', 'abort', (JSON.parse(third.stdout) as { id: string }).id], env);
  });

  it('cmd --wait: a simulated locker opens its door, and the command succeeds only on its telemetry', async () => {
    const r = await runInProcess(['cmd', 'locker-xuhui-0001', 'locker.open', 'compartment=1', '--wait', '--timeout', '60', '--json'], env);
    expect(r.stderr).toBe('');
    const cmd = JSON.parse(r.stdout) as { status: string; transitions: { status: string }[] };
    expect(cmd.status).toBe('succeeded');
    expect(cmd.transitions.map((t) => t.status)).toEqual(expect.arrayContaining(['queued', 'sent', 'acknowledged', 'succeeded']));
  }, 90_000);

  it('a signed rollout over the simulated fleet: the charger downloads, verifies, installs and reports the new version', async () => {
    const image = join(tmp.dir, 'ev-3.0.0.bin');
    writeFileSync(image, Buffer.alloc(200_000, 3));
    const fw = JSON.parse((await runInProcess(['fw', 'upload', image, '--version', '3.0.0', '--kind', 'ev-charger', '--key-id', 'ops-1', '--sign-key', join(tmp.dir, 'ops-1.pem'), '--json'], env)).stdout) as { id: string };
    const created = await runInProcess(['fw', 'campaign', 'create', '--firmware', fw.id, '--kind', 'ev-charger', '--site', 'xuhui', '--stages', '1', '--spread', '0', '--soak', '0', '--json'], env);
    expect(created.stderr).toBe('');
    const c = JSON.parse(created.stdout) as { id: string };
    const done = await eventually(async () => {
      const v = JSON.parse((await runInProcess(['fw', 'campaign', 'show', c.id, '--json'], env)).stdout) as { status: string };
      return v.status === 'completed' ? v : undefined;
    }, 'campaign completed', 60_000);
    expect(done.status).toBe('completed');
    const dev = await eventually(async () => {
      const d = JSON.parse((await runInProcess(['device', 'show', 'ev-xuhui-0001', '--json'], env)).stdout) as { firmwareVersion: string | null };
      return d.firmwareVersion === '3.0.0' ? d : undefined;
    }, 'the charger reports 3.0.0');
    expect(dev.firmwareVersion).toBe('3.0.0');
  }, 120_000);

  it.skipIf(!socatAvailable())('provision --register registers through the API and writes the issued secret over serial', async () => {
    const pair = await ptyPair(tmp.dir, 'reg');
    const boot = new Bootloader(await openSerialLink(pair.device), { outDir: join(tmp.dir, 'reg-out') });
    try {
      const r = await runInProcess(['provision', '--port', pair.host, '--device', 'fall-cli-1', '--register', '--site', 'xuhui', '--kind', 'fall-sensor', '--broker', env.YULAN_MQTT_URL!], env);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(boot.configs[0]).toMatchObject({ id: 'fall-cli-1', broker: env.YULAN_MQTT_URL });
      expect(boot.configs[0]!.secret.length).toBeGreaterThan(20);
      const shown = JSON.parse((await runInProcess(['device', 'show', 'fall-cli-1', '--json'], env)).stdout) as { kind: string };
      expect(shown.kind).toBe('fall-sensor');
    } finally {
      await boot.close();
      await pair.close();
    }
  });

  it('tail prints decoded telemetry of a site', async () => {
    const r = await eventually(async () => {
      const t = await runInProcess(['tail', 'xuhui', '--count', '3'], env);
      return t.code === 0 ? t : undefined;
    }, 'three telemetry lines');
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    for (const l of lines) expect(l).toMatch(/^\d{4}-\d\d-\d\dT\S+ xuhui\/\S+ (telemetry \S+=|event )/);
  });
});
