import { Subjects } from "@aa/contracts";
import type pg from "pg";
import { hrvBacklog, type BenchEnv } from "./env.js";

export interface Committed {
  /** Every expected row is there. */
  complete: boolean;
  /** When the durable was first seen with nothing pending after the last expected commit (epoch ms). */
  at: number;
  rows: number;
}

const PHASE_ROWS = "SELECT count(*)::int AS n FROM hrv_data WHERE split_part(event_id, ':', 1) = $1";

/** Rows of one phase in hrv_data. */
export async function phaseRows(pool: pg.Pool, phase: string): Promise<number> {
  return (await pool.query<{ n: number }>(PHASE_ROWS, [phase])).rows[0]?.n ?? 0;
}

/** What `waitCommitted` polls: the durable that feeds the table, and the rows so far. */
export interface CommitProbe {
  backlog(): Promise<{ pending: number; ackPending: number }>;
  rows(): Promise<number>;
}

/** The HRV durable and one phase's rows in hrv_data. */
export const hrvProbe = (env: BenchEnv, phase: string): CommitProbe => ({
  backlog: () => hrvBacklog(env),
  rows: () => phaseRows(env.db.pool, phase),
});

/**
 * Waits until the phase has `expected` rows. normalize acks only after the commit, so the
 * first poll that sees the HRV durable with nothing pending or unacknowledged dates the last
 * commit (to one poll interval); the row count, which costs a table scan, then confirms it.
 * Gives up at `timeoutMs`, or 3 s after the durable drained short of rows (dead-lettered or lost).
 */
export async function waitCommitted(probe: CommitProbe, expected: number, timeoutMs: number): Promise<Committed> {
  const deadline = Date.now() + timeoutMs;
  let drainedShortSince: number | undefined;
  let rows = 0;
  for (;;) {
    const seenAt = Date.now();
    const backlog = await probe.backlog();
    if (backlog.pending === 0 && backlog.ackPending === 0) {
      rows = await probe.rows();
      if (rows >= expected) return { complete: true, at: seenAt, rows };
      drainedShortSince ??= seenAt;
      if (seenAt - drainedShortSince > 3_000) return { complete: false, at: seenAt, rows };
    } else drainedShortSince = undefined;
    if (seenAt > deadline) return { complete: false, at: seenAt, rows: await probe.rows() };
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** When the phase's first row was created (epoch ms, the database clock: same machine). */
export async function firstRowAt(pool: pg.Pool, phase: string): Promise<number> {
  const sql =
    "SELECT (extract(epoch FROM min(created_at)) * 1000)::float8 AS t FROM hrv_data " +
    "WHERE split_part(event_id, ':', 1) = $1";
  const t = (await pool.query<{ t: number | null }>(sql, [phase])).rows[0]?.t;
  if (t === null || t === undefined) throw new Error(`no row of phase ${phase}`);
  return t;
}

export interface LatencyStats {
  rows: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** capturedAt → created_at per row of the phase (created_at is `now()` of the inserting transaction). */
export async function latencyStats(pool: pg.Pool, phase: string): Promise<LatencyStats> {
  const sql = `
SELECT count(*)::int AS rows,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) AS p99,
       max(ms) AS max
  FROM (SELECT (extract(epoch FROM created_at - captured_at) * 1000)::float8 AS ms
          FROM hrv_data WHERE split_part(event_id, ':', 1) = $1) t`;
  const row = (await pool.query<{ rows: number; p50: number; p99: number; max: number }>(sql, [phase])).rows[0];
  if (!row || row.rows === 0) throw new Error(`no row of phase ${phase}`);
  return { rows: row.rows, p50Ms: row.p50, p99Ms: row.p99, maxMs: row.max };
}

/** p99 of each hop of the latency, in ms: which part of the pipeline its tail comes from. */
export interface LatencyParts {
  /** capturedAt (the generator's send time) → ingest's receivedAt: the load generator, HTTP and ingest's queue. */
  receivedP99Ms: number;
  /** receivedAt → JetStream stored the event (its message timestamp): validation, publish and the PubAck's way. */
  storedP99Ms: number;
  /** Stored → the row's created_at: delivery to normalize, its queue, decoding and the INSERT's start. */
  insertedP99Ms: number;
  /** Events of the phase found in the stream (the hops cover these). */
  events: number;
}

const p99 = (values: number[]): number => {
  const sorted = values.sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(0.99 * sorted.length))] ?? NaN;
};

interface RawHrvEvent {
  eventId?: string;
  capturedAt?: string;
  receivedAt?: string;
}

/**
 * The phase's raw HRV events read back from the core stream (an ordered consumer from `since`,
 * epoch ms): each carries capturedAt and ingest's receivedAt, and JetStream's timestamp says when
 * it was stored; the row's created_at ends the last hop. Same machine, so the clocks agree.
 */
export async function latencyParts(env: BenchEnv, phase: string, since: number): Promise<LatencyParts> {
  const createdAt = new Map<string, number>();
  for (const row of (await env.db.pool.query<{ id: string; t: number }>(CREATED_AT, [phase])).rows)
    createdAt.set(row.id, row.t);
  const consumer = await env.js.consumers.get(env.names.core, {
    opt_start_time: new Date(since - 1_000).toISOString(),
  });
  const hops = { received: [] as number[], stored: [] as number[], inserted: [] as number[] };
  const decoder = new TextDecoder();
  let pending = (await consumer.info(true)).num_pending;
  while (pending > 0) {
    const batch = await consumer.fetch({ max_messages: Math.min(pending, 1_000), expires: 5_000 });
    let read = 0;
    for await (const msg of batch) {
      read++;
      if (msg.subject !== Subjects.hrvRawReceived.subject) continue;
      const event = JSON.parse(decoder.decode(msg.data)) as RawHrvEvent;
      const rowAt = createdAt.get(event.eventId ?? "");
      if (rowAt === undefined || event.capturedAt === undefined || event.receivedAt === undefined) continue;
      const storedAt = msg.info.timestampNanos / 1e6;
      const receivedAt = Date.parse(event.receivedAt);
      hops.received.push(receivedAt - Date.parse(event.capturedAt));
      hops.stored.push(storedAt - receivedAt);
      hops.inserted.push(rowAt - storedAt);
    }
    if (read === 0) throw new Error(`reading ${phase}'s events back from ${env.names.core}: nothing came`);
    pending -= read;
  }
  await consumer.delete();
  return {
    receivedP99Ms: p99(hops.received),
    storedP99Ms: p99(hops.stored),
    insertedP99Ms: p99(hops.inserted),
    events: hops.received.length,
  };
}

const CREATED_AT = `SELECT event_id AS id, (extract(epoch FROM created_at) * 1000)::float8 AS t FROM hrv_data
                     WHERE split_part(event_id, ':', 1) = $1`;

/** What a phase sent and what it was told about each event. */
export interface PhaseLedger {
  phase: string;
  /** Ids `<phase>:1` … `<phase>:<sent>` were sent. */
  sent: number;
  accepted: string[];
  /** Answered, but rejected or not taken by JetStream. */
  refused: string[];
  /** Sent events whose request got no answer: cut off when a timed run ended, or timed out. */
  unanswered: number;
}

export interface PhaseAudit {
  phase: string;
  sent: number;
  accepted: number;
  refused: number;
  unanswered: number;
  rows: number;
  /** Accepted events without a row. */
  lost: number;
  /** Rows of refused events (a 503 may come after JetStream stored the event: the client retries with the same id). */
  storedRefused: number;
  /** Rows of unanswered events (ingest finished requests whose client had gone). */
  storedUnanswered: number;
}

export interface Audit {
  phases: PhaseAudit[];
  lost: number;
  /** Rows of events never sent, plus event ids stored more than once. */
  duplicated: number;
  unsentRows: number;
  duplicateEventIds: number;
}

/** Records what every phase sent and had accepted, and at the end checks it against hrv_data. */
export class Ledger {
  readonly #phases: PhaseLedger[] = [];

  record(entry: PhaseLedger): void {
    this.#phases.push(entry);
  }

  async audit(pool: pg.Pool): Promise<Audit> {
    const phases: PhaseAudit[] = [];
    for (const p of this.#phases) phases.push(await auditPhase(pool, p));
    const unsentRows = await countUnsentRows(pool, this.#phases);
    const duplicateEventIds = await countDuplicateEventIds(pool);
    const lost = phases.reduce((a, p) => a + p.lost, 0);
    return { phases, lost, duplicated: unsentRows + duplicateEventIds, unsentRows, duplicateEventIds };
  }
}

async function auditPhase(pool: pg.Pool, p: PhaseLedger): Promise<PhaseAudit> {
  const lost = p.accepted.length - (await countStored(pool, p.accepted));
  const storedRefused = await countStored(pool, p.refused);
  const rows = await phaseRows(pool, p.phase);
  const storedUnanswered = rows - (p.accepted.length - lost) - storedRefused;
  return {
    phase: p.phase,
    sent: p.sent,
    accepted: p.accepted.length,
    refused: p.refused.length,
    unanswered: p.unanswered,
    rows,
    lost,
    storedRefused,
    storedUnanswered,
  };
}

/** How many of these event ids have a row (through the unique index on event_id). */
async function countStored(pool: pg.Pool, ids: readonly string[]): Promise<number> {
  const sql =
    "SELECT count(*)::int AS n FROM unnest($1::text[]) AS a(id) " +
    "WHERE EXISTS (SELECT 1 FROM hrv_data h WHERE h.event_id = a.id)";
  return ids.length === 0 ? 0 : ((await pool.query<{ n: number }>(sql, [ids])).rows[0]?.n ?? 0);
}

/** Rows whose event id is no `<phase>:<n>` with 1 ≤ n ≤ what that phase sent. */
async function countUnsentRows(pool: pg.Pool, phases: readonly PhaseLedger[]): Promise<number> {
  const sql = `
SELECT count(*)::int AS n
  FROM hrv_data h
  LEFT JOIN unnest($1::text[], $2::bigint[]) AS p(phase, sent) ON p.phase = split_part(h.event_id, ':', 1)
 WHERE p.phase IS NULL
    OR NOT (CASE WHEN split_part(h.event_id, ':', 2) ~ '^[0-9]{1,15}$' THEN split_part(h.event_id, ':', 2)::bigint
                 ELSE 0 END BETWEEN 1 AND p.sent)`;
  const result = await pool.query<{ n: number }>(sql, [phases.map((p) => p.phase), phases.map((p) => p.sent)]);
  return result.rows[0]?.n ?? 0;
}

async function countDuplicateEventIds(pool: pg.Pool): Promise<number> {
  const sql = "SELECT count(*)::int AS n FROM (SELECT event_id FROM hrv_data GROUP BY event_id HAVING count(*) > 1) d";
  return (await pool.query<{ n: number }>(sql)).rows[0]?.n ?? 0;
}
