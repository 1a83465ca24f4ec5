/** What a charger is told about an idTag (OCPP 1.6 IdTagInfo). */
export interface IdTagInfo {
  status: 'Accepted' | 'Blocked' | 'Expired' | 'Invalid' | 'ConcurrentTx';
  expiryDate?: string;
  parentIdTag?: string;
}

/**
 * A charger's view of the id tag list (cloud-id-tags.ts, bound to the charger's site):
 * `info` from the copy held now (StartTransaction, StopTransaction must not wait),
 * `authorize` may first pull the list again (Authorize).
 */
export interface IdTagLookup {
  info(tag: string): IdTagInfo;
  authorize(tag: string): Promise<IdTagInfo>;
}
