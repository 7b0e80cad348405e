import pg from "pg";
import { DEFAULT_TOPOLOGY_NAMES } from "@aa/event-bus";
import { selectDlq, type DlqMessage } from "@aa/ops";
import { quiesce } from "../test/faults/auditor.js";
import type { World } from "./world.js";

/** A path's ledger: what producers were told against what PostgreSQL and the DLQ hold. */
export interface PathReport {
  path: string;
  seconds: number;
  sent: number;
  accepted: number;
  rejected: number;
  unknown: number;
  storedOnce: number;
  duplicates: number;
  dlq: number;
  lost: number;
  /** 1.0 log lines with `permission denied` (any time) or a NATS disconnect outside the planned restart. */
  legacyErrors: string[];
  /** 1.0's disconnects during the planned nats-server restart of the transition (reconnected, nothing lost). */
  plannedDisconnects: number;
  /** Notes of the path's steps (aa-ops's forward ledger lines). */
  notes: string[];
}

/** The producers' eventId of a dead letter (its payload's), else the DLQ copy's original msg id. */
function deadEventId({ data, entry }: DlqMessage): string {
  try {
    const { eventId } = JSON.parse(new TextDecoder().decode(data)) as { eventId?: unknown };
    return typeof eventId === "string" ? eventId : entry.originalMsgId;
  } catch {
    return entry.originalMsgId;
  }
}

export async function auditPath(world: World, startedAt: number): Promise<PathReport> {
  const ledger = await world.producers.stop();
  await world.withJsm((jsm) => quiesce(jsm, 120_000));
  const acked = [...ledger.entries.values()].filter((e) => e.outcome === "acked").map((e) => e.eventId);
  const db = new pg.Client({ connectionString: world.url("postgres") });
  await db.connect();
  const { rows } = await db.query<{ event_id: string; n: number }>(
    "SELECT event_id, count(*)::int AS n FROM hrv_data WHERE event_id LIKE $1 GROUP BY event_id",
    [`${world.path}-%`],
  );
  await db.end();
  const stored = new Map(rows.map((r) => [r.event_id, r.n]));
  // The DLQ as `aa-ops dlq ls` reads it.
  const { messages } = await world.withJsm((jsm) => selectDlq(jsm, DEFAULT_TOPOLOGY_NAMES.dlq, {}));
  const dlq = new Set(messages.map(deadEventId));
  const blip = world.plannedBlip ?? { from: 0, to: 0 };
  const disconnect = (line: string) => line.includes("NATS disconnected") || line.includes("NATS error");
  const legacyErrors = world.legacyLog.filter(
    (line, i) => /permission denied/i.test(line) || (disconnect(line) && (i < blip.from || i >= blip.to)),
  );
  return {
    path: world.path,
    seconds: Math.round((Date.now() - startedAt) / 1000),
    sent: ledger.entries.size,
    accepted: acked.length,
    rejected: ledger.count("rejected"),
    unknown: ledger.count("unknown"),
    storedOnce: acked.filter((id) => stored.get(id) === 1).length,
    duplicates: [...stored.values()].filter((n) => n > 1).length,
    dlq: dlq.size,
    lost: acked.filter((id) => !stored.has(id) && !dlq.has(id)).length,
    legacyErrors,
    plannedDisconnects: world.legacyLog.slice(blip.from, blip.to).filter(disconnect).length,
    notes: world.notes,
  };
}

export const REPORT_HEADER =
  "path                          seconds  sent  accepted  stored once  dupl  DLQ  lost  rejected  unknown  1.0 errors";
export const formatReport = (r: PathReport): string =>
  [
    r.path.padEnd(30),
    String(r.seconds).padStart(7),
    String(r.sent).padStart(5),
    String(r.accepted).padStart(9),
    String(r.storedOnce).padStart(12),
    String(r.duplicates).padStart(5),
    String(r.dlq).padStart(4),
    String(r.lost).padStart(5),
    String(r.rejected).padStart(9),
    String(r.unknown).padStart(8),
    String(r.legacyErrors.length).padStart(11),
  ].join(" ");
