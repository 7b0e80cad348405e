import type pg from "pg";
import type { SleepRow } from "./sleep.js";
import { writeGuarded, writeGuardedBatch, type GuardedBatchStatements, type GuardedStatements, type WriteOutcome } from "./store.js";

// Same guard as hrv_data: a newer (captured_at, event_id) wins; an older replay or a redelivery changes nothing.
const STATEMENTS: GuardedStatements = {
  upsert: `
INSERT INTO sleep_data AS t (user_id, date, duration_minutes, quality_score, captured_at, event_id, raw)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (user_id, date) DO UPDATE
   SET duration_minutes = EXCLUDED.duration_minutes, quality_score = EXCLUDED.quality_score,
       captured_at = EXCLUDED.captured_at, event_id = EXCLUDED.event_id, raw = EXCLUDED.raw, updated_at = now()
 WHERE (t.captured_at, t.event_id) < (EXCLUDED.captured_at, EXCLUDED.event_id)
RETURNING id`,
  currentEvent: "SELECT event_id FROM sleep_data WHERE user_id = $1 AND date = $2",
};

/** Writes one night's sleep into `sleep_data`. */
export function writeSleep(pool: pg.Pool, row: SleepRow): Promise<WriteOutcome> {
  return writeGuarded(pool, STATEMENTS, [row.userId, row.date, row.durationMinutes, row.qualityScore, row.capturedAt, row.eventId, row.raw], row);
}

const BATCH: GuardedBatchStatements = {
  upsert: `
INSERT INTO sleep_data AS t (user_id, date, duration_minutes, quality_score, captured_at, event_id, raw)
SELECT * FROM unnest($1::text[], $2::date[], $3::float8[], $4::float8[], $5::timestamptz[], $6::text[], $7::jsonb[])
ON CONFLICT (user_id, date) DO UPDATE
   SET duration_minutes = EXCLUDED.duration_minutes, quality_score = EXCLUDED.quality_score,
       captured_at = EXCLUDED.captured_at, event_id = EXCLUDED.event_id, raw = EXCLUDED.raw, updated_at = now()
 WHERE (t.captured_at, t.event_id) < (EXCLUDED.captured_at, EXCLUDED.event_id)
RETURNING event_id`,
  currentEvents: "SELECT t.event_id FROM sleep_data t JOIN unnest($1::text[], $2::date[]) AS k(user_id, date) USING (user_id, date)",
};

/** Writes many nights in one statement. */
export function writeSleepBatch(pool: pg.Pool, rows: readonly SleepRow[]): Promise<Map<string, WriteOutcome>> {
  return writeGuardedBatch(pool, BATCH, rows, (row) => [row.userId, row.date, row.durationMinutes, row.qualityScore, row.capturedAt, row.eventId, row.raw]);
}
