import type pg from "pg";
import { classifyDbError } from "./db.js";

/**
 * `stored`: this event's values are now in the row (inserted, updated, or already there).
 * `stale`: the row holds a newer reading; this one changed nothing.
 */
export type WriteOutcome = "stored" | "stale";

/** The statements of a table keyed by (user_id, date) whose upsert only lets a newer (captured_at, event_id) win. */
interface GuardedStatements {
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
async function writeGuarded(pool: pg.Pool, statements: GuardedStatements, params: unknown[], key: ReadingKey): Promise<WriteOutcome> {
  try {
    const result = await pool.query(statements.upsert, params);
    if (result.rowCount === 1) return "stored";
    const current = await pool.query<{ event_id: string }>(statements.currentEvent, [key.userId, key.date]);
    return current.rows[0]?.event_id === key.eventId ? "stored" : "stale";
  } catch (error) {
    throw classifyDbError(error);
  }
}

/** A guarded table's batch statements: the same guard over arrays (one statement, one transaction). */
interface GuardedBatchStatements {
  /** `INSERT … SELECT FROM unnest($1…) … RETURNING event_id`: the ids it inserted or updated. */
  upsert: string;
  /** `$1` user_ids, `$2` dates → the `event_id` of each of those rows now. */
  currentEvents: string;
}

const keyOf = (r: { userId: string; date: string }): string => `${r.userId}\u0000${r.date}`;

/** Within one batch only the newest reading per (user_id, date) is written: one statement cannot update a row twice. */
function newestPerKey<R extends ReadingKey & { capturedAt: string }>(rows: readonly R[]): Map<string, R> {
  const newest = new Map<string, R>();
  for (const row of rows) {
    const held = newest.get(keyOf(row));
    const newer = !held || row.capturedAt > held.capturedAt || (row.capturedAt === held.capturedAt && row.eventId > held.eventId);
    if (newer) newest.set(keyOf(row), row);
  }
  return newest;
}

// unnest() takes one array per column; jsonb values travel as JSON text.
function columnsOf(rows: readonly unknown[][]): unknown[][] {
  const width = rows[0]?.length ?? 0;
  return Array.from({ length: width }, (_, i) => rows.map((row) => {
    const value = row[i];
    return value !== null && typeof value === "object" ? JSON.stringify(value) : value;
  }));
}

/**
 * Writes many readings with the same guard as `writeGuarded`, in one statement (so one
 * transaction): committed when it resolves. Returns each event id's outcome; a reading
 * superseded inside the batch by a newer one for the same day is `stale`.
 */
async function writeGuardedBatch<R extends ReadingKey & { capturedAt: string }>(
  pool: pg.Pool,
  statements: GuardedBatchStatements,
  rows: readonly R[],
  values: (row: R) => unknown[],
): Promise<Map<string, WriteOutcome>> {
  // Sorted so concurrent batches lock rows in the same order (no deadlocks between them).
  const winners = [...newestPerKey(rows).entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, row]) => row);
  try {
    const written = await pool.query<{ event_id: string }>(statements.upsert, columnsOf(winners.map(values)));
    const stored = new Set(written.rows.map((r) => r.event_id));
    const unchanged = winners.filter((w) => !stored.has(w.eventId));
    if (unchanged.length > 0) {
      // Unchanged rows that already hold this very event are redeliveries: stored, not stale.
      const current = await pool.query<{ event_id: string }>(statements.currentEvents, [unchanged.map((r) => r.userId), unchanged.map((r) => r.date)]);
      const ours = new Set(unchanged.map((u) => u.eventId));
      for (const row of current.rows) if (ours.has(row.event_id)) stored.add(row.event_id);
    }
    return new Map(rows.map((r) => [r.eventId, stored.has(r.eventId) ? "stored" : "stale"]));
  } catch (error) {
    throw classifyDbError(error);
  }
}

/** A reading table keyed by (user_id, date) with captured_at, event_id and raw: the columns in between and their SQL types. */
export interface ReadingTable<R> {
  name: string;
  /** The value columns between `date` and `captured_at`, with the array element type `unnest` needs. */
  columns: readonly { name: string; type: string }[];
  /** The row's values for user_id, date, the value columns, captured_at, event_id and raw, in that order. */
  values: (row: R) => unknown[];
}

/**
 * The guarded statements of a reading table, single and batch, written once for every table:
 * a newer (captured_at, event_id) wins; an older replay or a redelivery changes nothing.
 */
function guardedStatements(table: ReadingTable<unknown>): { single: GuardedStatements; batch: GuardedBatchStatements } {
  const names = ["user_id", "date", ...table.columns.map((c) => c.name), "captured_at", "event_id", "raw"];
  const types = ["text", "date", ...table.columns.map((c) => c.type), "timestamptz", "text", "jsonb"];
  const insert = `INSERT INTO ${table.name} AS t (${names.join(", ")})`;
  const guard = `ON CONFLICT (user_id, date) DO UPDATE
   SET ${names.slice(2).map((n) => `${n} = EXCLUDED.${n}`).join(", ")}, updated_at = now()
 WHERE (t.captured_at, t.event_id) < (EXCLUDED.captured_at, EXCLUDED.event_id)
RETURNING event_id`;
  return {
    single: {
      upsert: `${insert}\nVALUES (${names.map((_, i) => `$${i + 1}`).join(", ")})\n${guard}`,
      currentEvent: `SELECT event_id FROM ${table.name} WHERE user_id = $1 AND date = $2`,
    },
    batch: {
      upsert: `${insert}\nSELECT * FROM unnest(${types.map((type, i) => `$${i + 1}::${type}[]`).join(", ")})\n${guard}`,
      currentEvents: `SELECT t.event_id FROM ${table.name} t JOIN unnest($1::text[], $2::date[]) AS k(user_id, date) USING (user_id, date)`,
    },
  };
}

/** Guarded writes of one reading table: a row at a time, or a batch in one statement. */
export function readingStore<R extends ReadingKey & { capturedAt: string }>(table: ReadingTable<R>) {
  const statements = guardedStatements(table as ReadingTable<unknown>);
  return {
    write: (pool: pg.Pool, row: R): Promise<WriteOutcome> => writeGuarded(pool, statements.single, table.values(row), row),
    writeBatch: (pool: pg.Pool, rows: readonly R[]): Promise<Map<string, WriteOutcome>> => writeGuardedBatch(pool, statements.batch, rows, table.values),
  };
}
