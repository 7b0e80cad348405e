import type pg from "pg";
import { classifyDbError } from "./db.js";
import { replaces, ROW_REPLACED_SQL, SAME_READING_SQL, type RankedReading } from "./reading-order.js";

/**
 * `stored`: this event's values are now in the row (inserted, updated, or already there).
 * `stale`: changed nothing: the row holds a reading that ranks above it (see `replaces`), or this one under its
 * pre-upgrade identity, or its user was erased (`erased_users`) less than the tombstone's lifetime ago.
 */
export type WriteOutcome = "stored" | "stale";

/** The statements of a table keyed by (user_id, date) whose upsert lets only a different, higher-ranked reading win. */
interface GuardedStatements {
  /** Returns a row only when it inserted or updated one. */
  upsert: string;
  /** `$1` user_id, `$2` date → the row's event_id and source. */
  currentEvent: string;
}

/** The reading a guarded write is about: its identity within the table's kind, and its day. */
export interface ReadingKey {
  userId: string;
  date: string;
  eventId: string;
  source: string;
}

/** The reading's identity within one table (kind): equal for a redelivery or retry, different for another reading. */
export const identityOf = (r: Pick<ReadingKey, "userId" | "eventId" | "source">): string =>
  JSON.stringify([r.userId, r.source, r.eventId]);

/**
 * Does the row hold this very reading (same event id and source)? Then an unchanged write is a
 * redelivery: `stored`, and announced again (the announcement's msg id makes that a duplicate).
 */
function holdsReading(
  row: { event_id: string; source: string },
  reading: Pick<ReadingKey, "eventId" | "source">,
): boolean {
  return row.event_id === reading.eventId && row.source === reading.source;
}

/**
 * Runs a guarded upsert; the statement commits before this resolves. When it changed
 * nothing, the row either already holds this event (a redelivery: `stored`) or a newer
 * one (`stale`). Errors come back classified (transient or non-retryable).
 */
async function writeGuarded(
  pool: pg.Pool,
  statements: GuardedStatements,
  params: unknown[],
  key: ReadingKey,
): Promise<WriteOutcome> {
  try {
    const result = await pool.query(statements.upsert, params);
    if (result.rowCount === 1) return "stored";
    const current = await pool.query<{ event_id: string; source: string }>(statements.currentEvent, [
      key.userId,
      key.date,
    ]);
    return current.rows[0] !== undefined && holdsReading(current.rows[0], key) ? "stored" : "stale";
  } catch (error) {
    throw classifyDbError(error);
  }
}

/** A guarded table's batch statements: the same guard over arrays (one statement, one transaction). */
interface GuardedBatchStatements {
  /** `INSERT … SELECT FROM unnest($1…) … RETURNING user_id, event_id, source`: the readings it inserted or updated. */
  upsert: string;
  /** `$1` user_ids, `$2` dates → each of those rows' user_id, date, event_id and source now. */
  currentEvents: string;
}

const keyOf = (r: { userId: string; date: string }): string => `${r.userId}\u0000${r.date}`;

/** A reading the guarded writes take: its identity, its day, and what ranks it against the row's. */
type GuardedReading = ReadingKey & RankedReading;

/**
 * Within one batch only the reading per (user_id, date) that ranks highest (the guard's order, `replaces`) is written:
 * one statement cannot update a row twice.
 */
function newestPerKey<R extends GuardedReading>(rows: readonly R[]): Map<string, R> {
  const newest = new Map<string, R>();
  for (const row of rows) {
    const held = newest.get(keyOf(row));
    if (!held || replaces(row, held)) newest.set(keyOf(row), row);
  }
  return newest;
}

// unnest() takes one array per column; jsonb values travel as JSON text.
function columnsOf(rows: readonly unknown[][]): unknown[][] {
  const width = rows[0]?.length ?? 0;
  return Array.from({ length: width }, (_, i) =>
    rows.map((row) => {
      const value = row[i];
      return value !== null && typeof value === "object" ? JSON.stringify(value) : value;
    }),
  );
}

type CurrentRow = { user_id: string; date: string; event_id: string; source: string };

/**
 * Writes many readings with the same guard as `writeGuarded`, in one statement (so one
 * transaction): committed when it resolves. Returns each reading's outcome by `identityOf`;
 * a reading superseded inside the batch by one that ranks higher for the same day is `stale`.
 */
async function writeGuardedBatch<R extends GuardedReading>(
  pool: pg.Pool,
  statements: GuardedBatchStatements,
  rows: readonly R[],
  values: (row: R) => unknown[],
): Promise<Map<string, WriteOutcome>> {
  // Sorted so concurrent batches lock rows in the same order (no deadlocks between them).
  const winners = [...newestPerKey(rows).entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, row]) => row);
  try {
    const written = await pool.query<CurrentRow>(statements.upsert, columnsOf(winners.map(values)));
    const stored = new Set(
      written.rows.map((r) => identityOf({ userId: r.user_id, eventId: r.event_id, source: r.source })),
    );
    const unchanged = winners.filter((w) => !stored.has(identityOf(w)));
    if (unchanged.length > 0) {
      // Unchanged rows that already hold this very reading are redeliveries: stored, not stale.
      const current = await pool.query<CurrentRow>(statements.currentEvents, [
        unchanged.map((r) => r.userId),
        unchanged.map((r) => r.date),
      ]);
      const rowOfDay = new Map(current.rows.map((row) => [keyOf({ userId: row.user_id, date: row.date }), row]));
      for (const reading of unchanged) {
        const row = rowOfDay.get(keyOf(reading));
        if (row && holdsReading(row, reading)) stored.add(identityOf(reading));
      }
    }
    return new Map(rows.map((r) => [identityOf(r), stored.has(identityOf(r)) ? "stored" : "stale"]));
  } catch (error) {
    throw classifyDbError(error);
  }
}

/** A row of any reading table: its identity, its rank and its source document. */
export type TableReading = GuardedReading & { raw: Record<string, unknown> | null };

/**
 * A reading table keyed by (user_id, date) with captured_at, received_at, event_id, source and raw: the columns in
 * between and their SQL types.
 */
export interface ReadingTable<R> {
  name: string;
  /** The value columns between `date` and `captured_at`, with the array element type `unnest` needs. */
  columns: readonly { name: string; type: string }[];
  /** The row's values of those columns, in their order. */
  values: (row: R) => unknown[];
}

/** The columns every reading table has after its value columns, with their SQL types. */
const TAIL_COLUMNS = {
  captured_at: "timestamptz",
  received_at: "timestamptz",
  event_id: "text",
  source: "text",
  raw: "jsonb",
};

/** A row's statement parameters: user_id, date, the value columns, then `TAIL_COLUMNS` in their order. */
const paramsOf =
  <R extends TableReading>(table: ReadingTable<R>) =>
  (row: R): unknown[] => [
    row.userId,
    row.date,
    ...table.values(row),
    row.capturedAt,
    row.receivedAt,
    row.eventId,
    row.source,
    row.raw,
  ];

/**
 * Which readings may be written at all (`n` is the reading): not one of a user erased less than the tombstone's
 * lifetime ago, so a message still in a stream when the user was erased cannot bring rows back.
 */
const ADMITTED_SQL = `NOT EXISTS (SELECT 1 FROM erased_users e
   WHERE e.user_sha256 = encode(sha256(convert_to(n.user_id, 'UTF8')), 'hex') AND e.expires_at > now())`;

/**
 * The guarded statements of a reading table, single and batch, written once for every table: one row per user and
 * day, which another reading replaces only when it ranks higher (`ROW_REPLACED_SQL`: the newer capturedAt within a
 * source, the later-received reading across sources); an older one, or the same reading again (a redelivery, a
 * retry), changes nothing. The conflict target stays (user_id, date), the previous release's too.
 */
function guardedStatements(table: ReadingTable<unknown>): { single: GuardedStatements; batch: GuardedBatchStatements } {
  const names = ["user_id", "date", ...table.columns.map((c) => c.name), ...Object.keys(TAIL_COLUMNS)];
  const types = ["text", "date", ...table.columns.map((c) => c.type), ...Object.values(TAIL_COLUMNS)];
  const insert = `INSERT INTO ${table.name} AS t (${names.join(", ")})`;
  const admitted = `AS n (${names.join(", ")})\n WHERE ${ADMITTED_SQL}`;
  const guard = `ON CONFLICT (user_id, date) DO UPDATE
   SET ${names
     .slice(2)
     .map((n) => `${n} = EXCLUDED.${n}`)
     .join(", ")}, updated_at = now()
 WHERE ${ROW_REPLACED_SQL}
   AND NOT (${SAME_READING_SQL})
RETURNING user_id, event_id, source`;
  const current = "t.user_id, to_char(t.date, 'YYYY-MM-DD') AS date, t.event_id, t.source";
  const row = types.map((type, i) => `$${i + 1}::${type}`).join(", ");
  const arrays = types.map((type, i) => `$${i + 1}::${type}[]`).join(", ");
  return {
    single: {
      upsert: `${insert}\nSELECT * FROM (VALUES (${row})) ${admitted}\n${guard}`,
      currentEvent: `SELECT ${current} FROM ${table.name} t WHERE user_id = $1 AND date = $2`,
    },
    batch: {
      upsert: `${insert}\nSELECT * FROM unnest(${arrays}) ${admitted}\n${guard}`,
      currentEvents:
        `SELECT ${current} FROM ${table.name} t ` +
        `JOIN unnest($1::text[], $2::date[]) AS k(user_id, date) USING (user_id, date)`,
    },
  };
}

/** Guarded writes of one reading table: a row at a time, or a batch in one statement. */
export function readingStore<R extends TableReading>(table: ReadingTable<R>) {
  const statements = guardedStatements(table as ReadingTable<unknown>);
  const params = paramsOf(table);
  return {
    write: (pool: pg.Pool, row: R): Promise<WriteOutcome> => writeGuarded(pool, statements.single, params(row), row),
    writeBatch: (pool: pg.Pool, rows: readonly R[]): Promise<Map<string, WriteOutcome>> =>
      writeGuardedBatch(pool, statements.batch, rows, params),
  };
}
