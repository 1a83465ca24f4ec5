/**
 * Bound policy of the outbox, pure. When a batch would push the outbox past `maxRows`,
 * the oldest droppable rows (raw readings, aggregates) go first; if that is not enough
 * the batch's own droppable records are refused. Events and presence are never dropped,
 * so a backlog made only of them may exceed the bound — losing a fall alarm to save disk
 * is the wrong trade.
 */
export interface EvictionInput {
  depth: number;
  droppableDepth: number;
  maxRows: number;
  incomingDroppable: number;
  incomingKept: number;
}
export interface EvictionPlan {
  /** Oldest droppable rows to delete before inserting. */
  evictOld: number;
  /** Droppable records of the incoming batch to refuse. */
  dropIncoming: number;
}

export function planEviction(i: EvictionInput): EvictionPlan {
  const over = i.depth + i.incomingDroppable + i.incomingKept - i.maxRows;
  if (over <= 0) return { evictOld: 0, dropIncoming: 0 };
  const evictOld = Math.min(over, i.droppableDepth);
  const dropIncoming = Math.min(over - evictOld, i.incomingDroppable);
  return { evictOld, dropIncoming };
}
