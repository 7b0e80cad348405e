import { EventSources } from "@aa/contracts";

/** What decides which of two readings of one user and day a row keeps. Timestamps are ISO-8601 UTC (`toISOString`). */
export interface RankedReading {
  eventId: string;
  source: string;
  /** The client's (or Oura's) capture time: orders readings of one source. */
  capturedAt: string;
  /** When ingest received the reading, set by the server: orders readings of different sources. */
  receivedAt: string;
}

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Does `candidate` replace `held` in the row of their user and day? Within one source the newer capturedAt wins (a
 * source knows the order of its own readings); across sources the later-received one wins, because a capturedAt comes
 * from the client and one credential must not make another source's later readings stale by claiming a future time.
 * Ties fall to (capturedAt, eventId, source), so the order is total. `ROW_REPLACED_SQL` is the same rule in SQL.
 */
export function replaces(candidate: RankedReading, held: RankedReading): boolean {
  if (candidate.source === held.source) {
    return (compare(candidate.capturedAt, held.capturedAt) || compare(candidate.eventId, held.eventId)) > 0;
  }
  const order =
    compare(candidate.receivedAt, held.receivedAt) ||
    compare(candidate.capturedAt, held.capturedAt) ||
    compare(candidate.eventId, held.eventId) ||
    compare(candidate.source, held.source);
  return order > 0;
}

/**
 * `replaces(EXCLUDED, t)` inside `ON CONFLICT (user_id, date) DO UPDATE … WHERE`. A row the previous release wrote has
 * no received_at and counts as received at its updated_at (when that normalize stored it: no earlier than ingest
 * received it). A row it updated keeps the received_at of the reading it replaced, so it counts as received earlier
 * than it was: that can let another source's reading replace it, never hide one.
 */
export const ROW_REPLACED_SQL = `CASE WHEN t.source = EXCLUDED.source
     THEN (t.captured_at, t.event_id) < (EXCLUDED.captured_at, EXCLUDED.event_id)
     ELSE (coalesce(t.received_at, t.updated_at), t.captured_at, t.event_id, t.source)
        < (EXCLUDED.received_at, EXCLUDED.captured_at, EXCLUDED.event_id, EXCLUDED.source)
   END`;

/**
 * The row `t` already holds the reading being written, so it must not be rewritten: the same event id and source, or
 * the same event id where one side is `unscoped` (from before scoped identity). The latter is one reading retried
 * across a rolling upgrade (old ingest, then new, or back): it stays as first stored, and the store calls it `stale`,
 * so it is not announced twice.
 */
export const SAME_READING_SQL = `t.event_id = EXCLUDED.event_id
   AND (t.source = EXCLUDED.source OR '${EventSources.unscoped}' IN (t.source, EXCLUDED.source))`;
