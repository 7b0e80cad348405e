import { DLQ_AUDIT_PREFIX, MAX_DELIVERIES_ADVISORY, MSG_TERMINATED_ADVISORY, type DlqAuditRecord } from "@aa/event-bus";
import type { JetStreamManager, StoredMsg } from "@nats-io/jetstream";
import { toDlqMessage } from "./entry.js";
import { newestFirst } from "./read.js";

/** One captured JetStream advisory and where its message is accounted for. */
export interface AdvisoryRow {
  /** Sequence in the accounting stream. */
  seq: number;
  /** The advisory's own timestamp. */
  time: string;
  kind: "max_deliveries" | "terminated";
  stream: string;
  consumer: string;
  /** The stream sequence of the dead message (in `stream`, until its max age). */
  streamSeq: number;
  deliveries: number;
  /** in_dlq: a DLQ copy exists; replayed / purged: its DLQ copy was; missing: no DLQ copy ever seen. */
  status: "in_dlq" | "replayed" | "purged" | "missing";
  /** The DLQ sequence of the copy, when known. */
  dlqSeq: number | null;
}

interface AdvisoryBody {
  timestamp?: string;
  stream?: string;
  consumer?: string;
  stream_seq?: number;
  deliveries?: number;
}

const key = (stream: string, seq: number | null): string => `${stream}#${seq ?? "?"}`;

function kindOf(subject: string): AdvisoryRow["kind"] | undefined {
  if (subject.startsWith(`${MAX_DELIVERIES_ADVISORY}.`)) return "max_deliveries";
  if (subject.startsWith(`${MSG_TERMINATED_ADVISORY}.`)) return "terminated";
  return undefined;
}

function parseJson<T>(msg: StoredMsg): T | undefined {
  try {
    return JSON.parse(new TextDecoder().decode(msg.data)) as T;
  } catch {
    return undefined;
  }
}

function toRow(msg: StoredMsg, kind: AdvisoryRow["kind"]): AdvisoryRow | undefined {
  const body = parseJson<AdvisoryBody>(msg);
  if (body?.stream === undefined || body.stream_seq === undefined) return undefined;
  const time = body.timestamp ?? msg.time.toISOString();
  return {
    seq: msg.seq,
    time,
    kind,
    stream: body.stream,
    consumer: body.consumer ?? "",
    streamSeq: body.stream_seq,
    deliveries: body.deliveries ?? 0,
    status: "missing",
    dlqSeq: null,
  };
}

/** Where each original message went: `stream#seq` → its DLQ copy now. */
async function dlqIndex(jsm: JetStreamManager, dlqStream: string): Promise<Map<string, number>> {
  const index = new Map<string, number>();
  for await (const msg of newestFirst(jsm, dlqStream)) {
    const { entry } = toDlqMessage(msg);
    if (entry.originalStream !== "" && !index.has(key(entry.originalStream, entry.originalSequence)))
      index.set(key(entry.originalStream, entry.originalSequence), entry.seq);
  }
  return index;
}

export interface AdvisoryQuery {
  dlqStream: string;
  advisoryStream: string;
  sinceMs?: number;
  limit: number;
}

/**
 * The newest advisories (up to `limit`), each marked: its message has a DLQ copy, had one
 * that was replayed or purged (per the audit records), or never reached the DLQ.
 */
export async function listAdvisories(
  jsm: JetStreamManager,
  q: AdvisoryQuery,
): Promise<{ rows: AdvisoryRow[]; more: boolean }> {
  const rows: AdvisoryRow[] = [];
  const audits = new Map<string, DlqAuditRecord>();
  let more = false;
  for await (const msg of newestFirst(jsm, q.advisoryStream, { notBeforeMs: q.sinceMs })) {
    if (msg.subject.startsWith(`${DLQ_AUDIT_PREFIX}.`)) {
      // Newest first: the latest record about a message wins.
      const record = parseJson<DlqAuditRecord>(msg);
      const k = record ? key(record.originalStream, record.originalSequence) : "";
      if (record && !audits.has(k)) audits.set(k, record);
      continue;
    }
    const kind = kindOf(msg.subject);
    const row = kind === undefined ? undefined : toRow(msg, kind);
    if (row === undefined) continue;
    // An audit record is always newer than its advisory: older ones cannot mark the rows shown.
    if (rows.length >= q.limit) {
      more = true;
      break;
    }
    rows.push(row);
  }
  const index = await dlqIndex(jsm, q.dlqStream);
  return { rows: rows.map((row) => mark(row, index, audits)), more };
}

function mark(row: AdvisoryRow, index: Map<string, number>, audits: Map<string, DlqAuditRecord>): AdvisoryRow {
  const k = key(row.stream, row.streamSeq);
  const inDlq = index.get(k);
  if (inDlq !== undefined) return { ...row, status: "in_dlq", dlqSeq: inDlq };
  const audit = audits.get(k);
  if (audit !== undefined) return { ...row, status: audit.action, dlqSeq: audit.dlqSeq };
  return row;
}
