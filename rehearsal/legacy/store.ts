import type pg from "pg";

/** An HRV reading as 1.0's normalize stored it (its validated raw-received event). */
export interface LegacyHrv {
  eventId: string;
  userId: string;
  date: string;
  rmssd: number;
  capturedAt?: string;
  receivedAt: string;
}

// 1.0's guarded upsert (services/normalize/src/store.ts before scoped identity): one row per user and day,
// a newer (captured_at, event_id) wins. It never names `source`: rows it writes get the column's default.
const LEGACY_HRV_UPSERT = `INSERT INTO hrv_data AS t (user_id, date, rmssd, ln_rmssd, captured_at, event_id, raw)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (user_id, date) DO UPDATE
   SET rmssd = EXCLUDED.rmssd, ln_rmssd = EXCLUDED.ln_rmssd, captured_at = EXCLUDED.captured_at,
       event_id = EXCLUDED.event_id, raw = EXCLUDED.raw, updated_at = now()
 WHERE (t.captured_at, t.event_id) < (EXCLUDED.captured_at, EXCLUDED.event_id)
RETURNING event_id`;

/** Writes one reading as 1.0 did; throws the driver's error (e.g. 42501 permission denied) as 1.0 would see it. */
export async function storeLegacyHrv(db: pg.Pool | pg.Client, event: LegacyHrv): Promise<void> {
  await db.query(LEGACY_HRV_UPSERT, [
    event.userId,
    event.date,
    event.rmssd,
    Math.log(event.rmssd),
    event.capturedAt ?? event.receivedAt,
    event.eventId,
    null,
  ]);
}
