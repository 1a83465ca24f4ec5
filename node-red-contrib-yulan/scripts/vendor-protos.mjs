#!/usr/bin/env node
// Copies Yulan's wire contract into this package as a protobufjs JSON descriptor, so the
// nodes decode telemetry and events without depending on the private @yulan/protos.
//   node scripts/vendor-protos.mjs           write vendor/yulan-v1.json
//   node scripts/vendor-protos.mjs --check   exit 1 if it is stale (run by the tests)
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

const here = dirname(fileURLToPath(import.meta.url));
const protoRoot = join(here, '..', '..', 'protos', 'proto');
const out = join(here, '..', 'vendor', 'yulan-v1.json');
const files = readdirSync(join(protoRoot, 'yulan', 'v1')).filter((f) => f.endsWith('.proto')).sort().map((f) => join(protoRoot, 'yulan', 'v1', f));
const root = new protobuf.Root();
root.resolvePath = (_origin, target) => (target.startsWith('/') ? target : join(protoRoot, target));
root.loadSync(files, { keepCase: false });
const json = `${JSON.stringify(root.toJSON(), null, 1)}\n`;
if (process.argv.includes('--check')) {
  let current = '';
  try { current = readFileSync(out, 'utf8'); } catch { /* missing counts as stale */ }
  if (current !== json) {
    console.error(`stale: ${out} does not match protos/proto; run npm run vendor -w node-red-contrib-yulan`);
    process.exit(1);
  }
  console.log('vendored descriptor is up to date');
} else {
  writeFileSync(out, json);
  console.log(`wrote ${out}`);
}
