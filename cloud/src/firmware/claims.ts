/** One live campaign per device: how a conflict is named to the operator. Pure. */

/** "3 device(s) (a, b, c) are claimed by live campaign cmp_x (firmware 1.2.0)" for a conflict, or undefined. */
export function describeClaims(claims: Map<string, string[]>, versionOf: (campaignId: string) => string | undefined): string | undefined {
  if (claims.size === 0) return undefined;
  return [...claims].map(([cid, ids]) => {
    const sample = ids.slice(0, 3).join(', ') + (ids.length > 3 ? `, +${ids.length - 3} more` : '');
    return `${ids.length} device(s) (${sample}) are claimed by live campaign ${cid} (firmware ${versionOf(cid) ?? '?'})`;
  }).join('; ');
}

/** The same for claims read from the database (each with its campaign's firmware version). */
export function describeStoredClaims(claims: ReadonlyMap<string, { version: string; devices: string[] }>): string | undefined {
  return describeClaims(new Map([...claims].map(([cid, c]) => [cid, c.devices])), (cid) => claims.get(cid)?.version);
}
