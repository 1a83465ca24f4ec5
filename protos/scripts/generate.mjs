#!/usr/bin/env node
// Generates src/gen/yulan-v1.ts from proto/yulan/v1/*.proto.
//   node scripts/generate.mjs           write the file
//   node scripts/generate.mjs --check   exit 1 if the file is stale (used by the test suite)
import { readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { renderModule } from './render.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const protoRoot = join(here, '..', 'proto');
const out = join(here, '..', 'src', 'gen', 'yulan-v1.ts');
const files = readdirSync(join(protoRoot, 'yulan', 'v1'))
  .filter((f) => f.endsWith('.proto'))
  .sort()
  .map((f) => `yulan/v1/${f}`);

const source = renderModule(protoRoot, files);
if (process.argv.includes('--check')) {
  let current = '';
  try { current = readFileSync(out, 'utf8'); } catch { /* missing counts as stale */ }
  if (current !== source) {
    console.error(`stale: ${out} does not match the .proto files; run npm run gen`);
    process.exit(1);
  }
  console.log('generated code is up to date');
} else {
  writeFileSync(out, source);
  console.log(`wrote ${out}`);
}
