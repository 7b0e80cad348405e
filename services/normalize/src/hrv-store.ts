import type pg from "pg";
import { classifyDbError } from "./db.js";
import type { HrvRow } from "./hrv.js";

/**
 * `stored`: this event's values are now in the row (inserted, updated, or already there).
 * `stale`: the row holds a newer reading; this one changed nothing.
 */
export type HrvWriteOutcome = "stored" | "stale";

// A newer (captured_at, event_id) wins; an older replay or a redelivery changes nothing.
const UPSERT = `
INSERT INTO hrv_data AS t (user_id, date, rmssd, ln_rmssd, captured_at, event_id, raw)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (user_id, date) DO UPDATE
   SET rmssd = EXCLUDED.rmssd, ln_rmssd = EXCLUDED.ln_rmssd, captured_at = EXCLUDED.captured_at,
       event_id = EXCLUDED.event_id, raw = EXCLUDED.raw, updated_at = now()
 WHERE (t.captured_at, t.event_id) < (EXCLUDED.captured_at, EXCLUDED.event_id)
RETURNING id`;

const CURRENT_EVENT = "SELECT event_id FROM hrv_data WHERE user_id = $1 AND date = $2";

/** Writes one reading; the statement commits before this resolves. Errors come back classified. */
export async function writeHrv(pool: pg.Pool, row: HrvRow): Promise<HrvWriteOutcome> {
  try {
    const result = await pool.query(UPSERT, [row.userId, row.date, row.rmssd, row.lnRmssd, row.capturedAt, row.eventId, row.raw]);
    if (result.rowCount === 1) return "stored";
    const current = await pool.query<{ event_id: string }>(CURRENT_EVENT, [row.userId, row.date]);
    return current.rows[0]?.event_id === row.eventId ? "stored" : "stale";
  } catch (error) {
    throw classifyDbError(error);
  }
}
