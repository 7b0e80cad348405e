import type pg from "pg";
import { classifyDbError } from "./db.js";

/**
 * `stored`: this event's values are now in the row (inserted, updated, or already there).
 * `stale`: the row holds a newer reading; this one changed nothing.
 */
export type WriteOutcome = "stored" | "stale";

/** The statements of a table keyed by (user_id, date) whose upsert only lets a newer (captured_at, event_id) win. */
export interface GuardedStatements {
  /** Returns a row only when it inserted or updated one. */
  upsert: string;
  /** `$1` user_id, `$2` date → the row's event_id. */
  currentEvent: string;
}

/** The reading a guarded write is about. */
export interface ReadingKey {
  userId: string;
  date: string;
  eventId: string;
}

/**
 * Runs a guarded upsert; the statement commits before this resolves. When it changed
 * nothing, the row either already holds this event (a redelivery: `stored`) or a newer
 * one (`stale`). Errors come back classified (transient or non-retryable).
 */
export async function writeGuarded(pool: pg.Pool, statements: GuardedStatements, params: unknown[], key: ReadingKey): Promise<WriteOutcome> {
  try {
    const result = await pool.query(statements.upsert, params);
    if (result.rowCount === 1) return "stored";
    const current = await pool.query<{ event_id: string }>(statements.currentEvent, [key.userId, key.date]);
    return current.rows[0]?.event_id === key.eventId ? "stored" : "stale";
  } catch (error) {
    throw classifyDbError(error);
  }
}
