// A simulator process for the rollout scenario: runs its share of the fleet (runFleet with
// a firmware hook that misbehaves on chosen devices or on the bad image) and reports over
// IPC. 10,000 MQTT.js devices with their models, timers and firmware downloads in the
// bench's own process made its event loop the bottleneck; several of these share the work.
import { pino } from 'pino';
import { Severity } from '@yulan/protos';
import {
  firmwareUpdateHook, loadTrustedKeys, runFleet,
  type FirmwareUpdateContext, type FirmwareUpdateHook, type FleetDeviceSpec, type FleetHandle,
} from '@yulan/device-sims';

export type RolloutToWorker =
  | {
    type: 'start'; mqttUrl: string; keyFile: string; devices: FleetDeviceSpec[]; badIds: string[]; badVersion: string;
    reportEverySec: number; connectConcurrency: number;
  }
  | { type: 'stats' }
  | { type: 'reset' }
  | { type: 'close' };

export type RolloutFromWorker =
  | { type: 'started' }
  /** `firstMisbehaviour`: wall ms of the first fault raised since the last reset */
  | { type: 'stats'; connected: number; firstMisbehaviour: number | null; installedBad: number; errors: number }
  | { type: 'closed' }
  | { type: 'error'; message: string };

let fleet: FleetHandle | undefined;
let firstMisbehaviour: number | null = null;
let installedBad = 0;

function hookFor(msg: Extract<RolloutToWorker, { type: 'start' }>): FirmwareUpdateHook {
  const bad = new Set(msg.badIds);
  const base = firmwareUpdateHook({ trustedKeys: loadTrustedKeys(msg.keyFile), rebootDownMs: 1000 });
  // Misbehaviour after install: a fault event a few seconds after booting the new image.
  return (cmd, ctx) => {
    const id = new URL(cmd.args.url ?? 'http://x/').searchParams.get('device') ?? '';
    if (cmd.args.version !== msg.badVersion && !bad.has(id)) return base(cmd, ctx);
    base(cmd, {
      result: (st, m, out) => ctx.result(st, m, out), publishEvent: (e) => ctx.publishEvent(e), reboot: (ms) => ctx.reboot(ms),
      setFirmwareVersion(v) {
        ctx.setFirmwareVersion(v);
        if (v === msg.badVersion) installedBad++;
        setTimeout(() => {
          firstMisbehaviour ??= Date.now();
          void ctx.publishEvent({ type: 'charger.fault', severity: Severity.CRITICAL, message: 'fault after update', attributes: { code: 'InternalError' } });
        }, 3000);
      },
      get firmwareVersion() { return ctx.firmwareVersion; },
    } satisfies FirmwareUpdateContext);
  };
}

async function handle(msg: RolloutToWorker): Promise<RolloutFromWorker> {
  switch (msg.type) {
    case 'start':
      fleet = await runFleet({
        kinds: ['ev-charger'], countPerKind: 0, sites: ['r'], devices: msg.devices, ratePerDevice: 1 / msg.reportEverySec, qos: 0,
        // Same seed per device whichever worker runs it (models derive theirs from the id).
        seed: 1, mqttUrl: msg.mqttUrl, firmwareVersion: '1.0.0', onFirmwareUpdate: hookFor(msg), rebootDownMs: 1000,
        connectConcurrency: msg.connectConcurrency,
      }, pino({ level: 'silent' }));
      return { type: 'started' };
    case 'stats': {
      const s = fleet?.stats();
      return { type: 'stats', connected: s?.connected ?? 0, firstMisbehaviour, installedBad, errors: s?.errors ?? 0 };
    }
    case 'reset':
      firstMisbehaviour = null;
      installedBad = 0;
      return { type: 'stats', connected: fleet?.stats().connected ?? 0, firstMisbehaviour, installedBad, errors: 0 };
    case 'close':
      await fleet?.close();
      fleet = undefined;
      return { type: 'closed' };
  }
}

// One request at a time per worker: the parent awaits each answer.
process.on('message', (msg: RolloutToWorker) => {
  handle(msg).then(
    (r) => process.send?.(r),
    (err: unknown) => process.send?.({ type: 'error', message: (err as Error).stack ?? String(err) } satisfies RolloutFromWorker),
  );
});
// The bench died (or was stopped): do not keep 2,500 devices connected to nothing.
process.on('disconnect', () => process.exit(0));
