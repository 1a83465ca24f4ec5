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
      .filter(([name]) => name !== 'firmware.update' && name !== 'charger.set_site_limit')
      .map(([name, c]) => [`    ${name}`, Object.entries(c.args).map(([k, p]) => p.optional ? `[${k}=${describeParam(p)}]` : `${k}=${describeParam(p)}`).join(' '), `confirmed by: ${c.confirmedBy}`]);
    out.push(...pad(rows));
  }
  out.push('  (firmware.update is sent by firmware campaigns: yulan fw campaign create;');
  out.push('   charger.set_site_limit by the site power cap: yulan site cap set)');
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
