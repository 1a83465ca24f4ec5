// npm run bench -- <scenario> [options]: one entry point for every benchmark scenario.
// A scenario is a function of its argv that prints its figures and records them in
// BENCHMARKS.md; adding one is adding a line here.
import { runCity } from './city.js';
import { runCloudDb } from './cloud-db.js';
import { runConnections } from './connections.js';
import { runAlertLatency } from './alert-latency.js';
import { runAqi } from './aqi.js';
import { runCommandRtt } from './command-rtt.js';
import { runConsoleLoad } from './console-load.js';
import { runConsoleLive } from './console-live.js';
import { runIngest } from './ingest.js';
import { runNoisyNeighbour } from './noisy-neighbour.js';
import { runAuthFlood } from './auth-flood.js';
import { runTlsConnections } from './tls-connections.js';
import { runOcpp } from './ocpp.js';
import { runPipeline } from './pipeline.js';
import { runReconnectStorm } from './reconnect-storm.js';
import { runRollout } from './rollout.js';
import { runRetention } from './retention.js';
import { runSta } from './sta.js';
import { runSerial } from './serial.js';
import { runThroughput } from './throughput.js';

const SCENARIOS: Record<string, { about: string; run: (argv: string[]) => Promise<unknown> }> = {
  ingest: { about: 'devices → broker → edge → store: throughput, lag, loss (SQLite and InfluxDB)', run: runIngest },
  pipeline: { about: 'ingest held for minutes below saturation: lag, outbox, broker backlog and loss per interval', run: runPipeline },
  connections: { about: 'idle devices ramped to 10,000 and beyond: connect rate, memory per connection, Yulan vs Mosquitto', run: runConnections },
  city: { about: "the city programme's fleet scaled by a factor: what it carries, what saturates first", run: runCity },
  'command-rtt': { about: 'commands API → device → confirmed by telemetry (p50/p99); a staged signed-firmware rollout to the fleet', run: runCommandRtt },
  'alert-latency': { about: 'falls and SOS → edge rules → cloud ladder → signed webhook: p50/p99/max, loss, duplicates', run: runAlertLatency },
  'reconnect-storm': { about: 'broker SIGKILLed under a connected fleet: time for every device to come back, refusals, loss; fixed vs jittered back-off', run: runReconnectStorm },
  rollout: { about: 'staged signed firmware to 10,000 chargers, 3 % offline and 1 % misbehaving; then a bad image: gate reaction, blast radius, cloud CPU', run: runRollout },
  aqi: { about: 'HJ 633 AQI and GB 3096 noise computed at the edge: cost per reading (pure functions, aggregator, hourly passes over SQLite)', run: runAqi },
  sta: { about: 'public SensorThings API over a year of hourly data: queries/s, p50/p99 for a site\'s last 24 h and a $filter over a month', run: runSta },
  retention: { about: 'ingest while the edge prunes a large SQLite store by age: write lag before, during and after', run: runRetention },
  'console-load': { about: 'the operator console with 10,000 and 100,000 registered devices: first load, search, fleet API timings', run: runConsoleLoad },
  'console-live': { about: 'telemetry → device page over SSE: latency, and the cost of 50 consoles watching', run: runConsoleLive },
  serial: { about: 'serial sensors: frames parsed per second per protocol, frame-on-wire → MQTT latency through a pty, gateway CPU/memory with 32 sensors', run: runSerial },
  'auth-flood': { about: 'wrong MQTT secrets from one address: what they cost the cloud, with and without the failed-authentication limits', run: runAuthFlood },
  'noisy-neighbour': { about: "one device flooding at full speed: everyone else's broker latency, with and without publish quotas", run: runNoisyNeighbour },
  'tls-connections': { about: 'idle connections over MQTT/TLS vs plain: connects/s and memory per connection, Yulan vs Mosquitto with the same certificates', run: runTlsConnections },
  ocpp: { about: 'OCPP 1.6J charge points through one gateway process (or, with --gateways G --clients K, gateway and charger processes at scale, with a gateway SIGKILL): held, memory per connection, boot → online, RemoteStart → confirmed', run: runOcpp },
  throughput: { about: 'fan-in publishers → one subscriber: Yulan broker vs Mosquitto, QoS 0 and 1', run: runThroughput },
  'cloud-db': { about: 'the cloud\'s hot database paths (API token check, id tag write and sync, complaint budget): SQLite vs PostgreSQL', run: runCloudDb },
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const scenario = name === undefined ? undefined : SCENARIOS[name];
  if (!scenario) {
    const list = Object.entries(SCENARIOS).map(([k, v]) => `  ${k.padEnd(16)} ${v.about}`).join('\n');
    process.stderr.write(`${name ? `unknown scenario "${name}"\n\n` : ''}usage: npm run bench -- <scenario> [options]\n\n${list}\n`);
    return 2;
  }
  await scenario.run(rest);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
