import { appendFileSync } from "node:fs";
import type { JetStreamManager } from "@nats-io/jetstream";
import type pg from "pg";
import { DlqHeaders, DlqReasons } from "@aa/event-bus";
import { waitFor } from "../helpers/wait.js";
import type { Ledger } from "./ledger.js";

export interface AuditReport {
  scenario: string;
  /** Valid events with a 2xx (plus poison messages the stream acknowledged). */
  accepted: number;
  /** Valid events whose outcome stayed unknown after the bounded retries (may or may not be stored). */
  unknown: number;
  stored: number;
  inDlq: number;
  /** Acked (or poison) but neither in hrv_data nor in the DLQ. */
  lost: number;
  /** Stored but never sent. */
  unexpected: number;
  /** Stored and in the DLQ. */
  both: number;
  /** event_ids with more than one row (the constraint forbids it; checked anyway). */
  duplicates: number;
  /** Valid events in the DLQ: a transient fault must never dead-letter one. */
  transientDlq: number;
  /** Seconds from the end of the fault until every durable had nothing pending. */
  recoverySeconds: number;
}

/** Waits until every durable of every stream has num_pending + num_ack_pending = 0 (seen twice in a row). */
export async function quiesce(jsm: JetStreamManager, timeoutMs = 240_000): Promise<void> {
  let quietOnce = false;
  await waitFor(
    async () => {
      let busy = 0;
      for await (const stream of jsm.streams.list()) {
        for await (const consumer of jsm.consumers.list(stream.config.name))
          busy += consumer.num_pending + consumer.num_ack_pending;
      }
      if (busy > 0) quietOnce = false;
      else if (quietOnce) return true;
      else quietOnce = true;
      return false;
    },
    { timeoutMs, intervalMs: 250, what: "all durables quiesced" },
  );
}

/** The client's eventId in a dead letter's payload (its Nats-Msg-Id is the scoped key); undefined for unreadable payloads. */
function eventIdOf(data: Uint8Array): string | undefined {
  try {
    const eventId = (JSON.parse(new TextDecoder().decode(data)) as { eventId?: unknown }).eventId;
    return typeof eventId === "string" ? eventId : undefined;
  } catch {
    return undefined;
  }
}

/** The event's id (the payload's eventId, else the original message id) → DLQ reasons, for every entry of the DLQ stream. */
export async function dlqEntries(jsm: JetStreamManager, stream = "AA_DLQ"): Promise<Map<string, string[]>> {
  const entries = new Map<string, string[]>();
  const { state } = await jsm.streams.info(stream);
  for (let seq = state.first_seq; state.messages > 0 && seq <= state.last_seq; seq++) {
    const msg = await jsm.streams.getMessage(stream, { seq }).catch(() => undefined);
    if (!msg) continue;
    const id = eventIdOf(msg.data) ?? msg.header.get(DlqHeaders.originalMsgId);
    entries.set(id, [...(entries.get(id) ?? []), msg.header.get(DlqHeaders.reason)]);
  }
  return entries;
}

/** Quiesces, then compares the ledger with hrv_data and the DLQ. */
export async function audit(o: {
  scenario: string;
  ledger: Ledger;
  jsm: JetStreamManager;
  pool: pg.Pool;
  faultEndedAt: number;
  poisonIds?: readonly string[];
}): Promise<AuditReport> {
  await quiesce(o.jsm);
  const recoverySeconds = Math.max(0, (Date.now() - o.faultEndedAt) / 1000);
  const rows = await o.pool.query<{ event_id: string; n: string }>(
    "SELECT event_id, count(*) AS n FROM hrv_data GROUP BY event_id",
  );
  const stored = new Map(rows.rows.map((r) => [r.event_id, Number(r.n)]));
  const dlq = await dlqEntries(o.jsm);
  const entries = [...o.ledger.entries.values()];
  const acked = entries.filter((e) => e.outcome === "acked");
  const report: AuditReport = {
    scenario: o.scenario,
    accepted: acked.length,
    unknown: entries.filter((e) => e.outcome === "unknown").length,
    stored: stored.size,
    inDlq: entries.filter((e) => dlq.has(e.eventId)).length,
    lost: acked.filter((e) => !stored.has(e.eventId) && !dlq.has(e.eventId)).length,
    unexpected: [...stored.keys()].filter((id) => !o.ledger.entries.has(id)).length,
    both: [...stored.keys()].filter((id) => dlq.has(id)).length,
    duplicates: [...stored.values()].filter((n) => n > 1).length,
    transientDlq: entries.filter((e) => e.kind === "valid" && dlq.has(e.eventId)).length,
    recoverySeconds: Math.round(recoverySeconds * 10) / 10,
  };
  // Poison must be dead-lettered (schema_invalid), never stored.
  for (const id of o.poisonIds ?? []) if (!(dlq.get(id) ?? []).includes(DlqReasons.schemaInvalid)) report.lost++;
  printRow(report);
  return report;
}

const COLUMNS = [
  "scenario",
  "accepted",
  "unknown",
  "stored",
  "inDlq",
  "lost",
  "unexpected",
  "both",
  "duplicates",
  "transientDlq",
  "recoverySeconds",
] as const;

export function formatRow(r: AuditReport): string {
  return COLUMNS.map((c, i) => String(r[c]).padEnd(i === 0 ? 44 : 10)).join(" ");
}

export const TABLE_HEADER = COLUMNS.map((c, i) => c.padEnd(i === 0 ? 44 : 10)).join(" ");

/** Prints the row; with AA_FAULTS_TABLE set (by `npm run test:faults`) also appends it there as JSON. */
function printRow(r: AuditReport): void {
  console.log(`[faults] ${formatRow(r)}`);
  const file = process.env.AA_FAULTS_TABLE;
  if (file) appendFileSync(file, `${JSON.stringify(r)}\n`);
}
