import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { Mr60fda1Emulator, Pms5003Emulator, PtyPair, provisionDevices, socatInstalled } from '@yulan/device-sims';
import { loadSerialGatewayConfig, startSerialGateway } from '@yulan/gateways';

export interface SerialDemo { close(): Promise<void>; lines: string[] }

/**
 * `yulan up`'s serial path, so a new user sees it work without hardware: an emulated
 * PMS5003 env monitor and an MR60FDA1 fall radar, each on a socat pty pair under the data
 * directory, read by the real serial gateway with a generated config file, as the devices
 * env-serial-1 and fall-serial-1 (registered like any device; their secrets are kept in
 * serial/credentials.json). Without socat it says so and runs nothing.
 */
export async function startSerialDemo(o: {
  dataDir: string; site: string; mqttUrl: string; cloud?: { url: string; adminToken: string }; logger: Logger;
}): Promise<SerialDemo> {
  if (!socatInstalled()) return { close: async () => {}, lines: ['  Serial demo    off: socat is not installed (apt-get install socat)'] };
  const dir = join(o.dataDir, 'serial');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const devices = [
    { id: 'env-serial-1', site: o.site, kind: 'env-monitor' },
    { id: 'fall-serial-1', site: o.site, kind: 'fall-sensor' },
  ];
  const credentialsFile = join(dir, 'credentials.json');
  try {
    await provisionDevices(devices, { ...(o.cloud && { cloud: o.cloud }), credentialsFile, firmwareVersion: 'serial-gw-0.1.0', firmwareUpdates: 'none' }, o.logger);
  } catch (err) {
    // E.g. a later start without the admin token, before the demo devices were ever registered.
    o.logger.warn({ err }, 'serial demo not started');
    return { close: async () => {}, lines: [`  Serial demo    off: ${(err as Error).message}`] };
  }
  const pm = new PtyPair(join(dir, 'pms5003-host'), join(dir, 'pms5003-dev'));
  const radar = new PtyPair(join(dir, 'mr60fda1-host'), join(dir, 'mr60fda1-dev'));
  await pm.plug();
  await radar.plug();
  const pms = new Pms5003Emulator({ path: pm.device, wakeSettleMs: 2000 });
  const mr = new Mr60fda1Emulator({ path: radar.device });
  await Promise.all([pms.start(), mr.start()]);
  // Gentle life: particulates drift, someone comes and goes.
  let pm25 = 18;
  let tick = 0;
  const life = setInterval(() => {
    pm25 = Math.max(2, Math.min(120, pm25 + (Math.random() - 0.5) * 4));
    pms.set([Math.round(pm25 * 0.7), Math.round(pm25), Math.round(pm25 * 1.4)]);
    tick++;
    if (tick % 12 === 0) mr.setPresence(!mr.present);
  }, 5000);
  const configFile = join(dir, 'gateway.json');
  writeFileSync(configFile, `${JSON.stringify({
    mqttUrl: o.mqttUrl, credentialsFile: 'credentials.json',
    devices: [
      { ...devices[0], sensor: 'pms5003', port: pm.host, mode: 'passive', intervalS: 10, dutyCycle: false },
      { ...devices[1], sensor: 'mr60fda1', port: radar.host, intervalS: 10, sensitivity: 5 },
    ],
  }, null, 2)}\n`, { mode: 0o600 });
  const { config, secrets } = await loadSerialGatewayConfig(configFile);
  const gw = startSerialGateway(config, secrets, o.logger);
  return {
    lines: [`  Serial demo    env-serial-1 (PMS5003) and fall-serial-1 (MR60FDA1) emulated on socat ptys, read by the serial gateway (${configFile})`],
    async close() {
      clearInterval(life);
      await gw.close();
      await pms.close();
      await mr.close();
      await pm.unplug();
      await radar.unplug();
    },
  };
}
