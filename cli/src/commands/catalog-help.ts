import { COMMAND_CATALOG, KIND_SLUGS, SETTINGS_CATALOG, describeParam } from '@yulan/protos';

/** Help texts built from the control catalogues in @yulan/protos, so they never drift from
 * what the cloud accepts. */

const pad = (rows: string[][]): string[] => {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('   ').trimEnd());
};

/** Commands per kind with their arguments (`key=range`); firmware.update is left to `yulan fw`. */
export function commandCatalogHelp(): string {
  const out = ['Commands per kind (as key=value; [key=…] may be left out):'];
  for (const kind of KIND_SLUGS) {
    out.push(`  ${kind}`);
    const rows = Object.entries(COMMAND_CATALOG[kind])
      .filter(([, c]) => c.sentBy === undefined)
      .map(([name, c]) => [`    ${name}`, Object.entries(c.args).map(([k, p]) => p.optional ? `[${k}=${describeParam(p)}]` : `${k}=${describeParam(p)}`).join(' '), `confirmed by: ${c.confirmedBy}${c.ocppOnly ? ' (OCPP chargers only)' : ''}`]);
    out.push(...pad(rows));
  }
  const auto = new Map<string, string>();
  for (const kind of KIND_SLUGS) for (const [name, c] of Object.entries(COMMAND_CATALOG[kind])) if (c.sentBy) auto.set(name, c.sentBy);
  out.push('  Sent by the platform, not by hand:');
  out.push(...pad([...auto].map(([name, by]) => [`    ${name}`, `by ${by}`])));
  return out.join('\n');
}

/** Twin settings per kind with their ranges. */
export function settingsCatalogHelp(): string {
  const out = ['Settings per kind (set as key=value; key=null releases the key):'];
  for (const kind of KIND_SLUGS) {
    out.push(`  ${kind}`);
    out.push(...pad(Object.entries(SETTINGS_CATALOG[kind]).map(([k, p]) => [`    ${k}`, describeParam(p), p.doc ?? ''])));
  }
  return out.join('\n');
}

/** `--kind` values for messages: the slugs, in catalogue order. */
export const KIND_LIST = KIND_SLUGS.join(', ');
