import type pg from "pg";
import type { HrvRow } from "./hrv.js";
import { writeGuarded, writeGuardedBatch, type GuardedBatchStatements, type GuardedStatements, type WriteOutcome } from "./store.js";

// A newer (captured_at, event_id) wins; an older replay or a redelivery changes nothing.
const STATEMENTS: GuardedStatements = {
  upsert: `
INSERT INTO hrv_data AS t (user_id, date, rmssd, ln_rmssd, captured_at, event_id, raw)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (user_id, date) DO UPDATE
   SET rmssd = EXCLUDED.rmssd, ln_rmssd = EXCLUDED.ln_rmssd, captured_at = EXCLUDED.captured_at,
       event_id = EXCLUDED.event_id, raw = EXCLUDED.raw, updated_at = now()
 WHERE (t.captured_at, t.event_id) < (EXCLUDED.captured_at, EXCLUDED.event_id)
RETURNING id`,
  currentEvent: "SELECT event_id FROM hrv_data WHERE user_id = $1 AND date = $2",
};

/** Writes one HRV reading into `hrv_data`. */
export function writeHrv(pool: pg.Pool, row: HrvRow): Promise<WriteOutcome> {
  return writeGuarded(pool, STATEMENTS, [row.userId, row.date, row.rmssd, row.lnRmssd, row.capturedAt, row.eventId, row.raw], row);
}

const BATCH: GuardedBatchStatements = {
  upsert: `
INSERT INTO hrv_data AS t (user_id, date, rmssd, ln_rmssd, captured_at, event_id, raw)
SELECT * FROM unnest($1::text[], $2::date[], $3::float8[], $4::float8[], $5::timestamptz[], $6::text[], $7::jsonb[])
ON CONFLICT (user_id, date) DO UPDATE
   SET rmssd = EXCLUDED.rmssd, ln_rmssd = EXCLUDED.ln_rmssd, captured_at = EXCLUDED.captured_at,
       event_id = EXCLUDED.event_id, raw = EXCLUDED.raw, updated_at = now()
 WHERE (t.captured_at, t.event_id) < (EXCLUDED.captured_at, EXCLUDED.event_id)
RETURNING event_id`,
  currentEvents: "SELECT t.event_id FROM hrv_data t JOIN unnest($1::text[], $2::date[]) AS k(user_id, date) USING (user_id, date)",
};

/** Writes many HRV readings in one statement. */
export function writeHrvBatch(pool: pg.Pool, rows: readonly HrvRow[]): Promise<Map<string, WriteOutcome>> {
  return writeGuardedBatch(pool, BATCH, rows, (row) => [row.userId, row.date, row.rmssd, row.lnRmssd, row.capturedAt, row.eventId, row.raw]);
}
