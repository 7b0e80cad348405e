import { DlqHeaders, patternCovers } from "@aa/event-bus";
import type { StoredMsg } from "@nats-io/jetstream";
import { headerRecord } from "../output.js";

/** One DLQ message as the operator sees it: the DLQ headers, parsed. Strings are "" when a header is absent. */
export interface DlqEntry {
  /** Sequence in the DLQ stream: what `dlq show` and `--up-to` take. */
  seq: number;
  /** The DLQ subject, e.g. `dlq.normalize.hrv.raw-received.schema-invalid`. */
  subject: string;
  /** When the DLQ stored the copy (the server's timestamp). */
  storedAt: string;
  reason: string;
  error: string;
  originalSubject: string;
  originalStream: string;
  originalSequence: number | null;
  originalMsgId: string;
  durable: string;
  deliveryCount: number | null;
  /** The last failure (`X-Dlq-Failed-At`). */
  failedAt: string;
  /** When the original was published; the first failure lies between this and `failedAt`. */
  originalPublishedAt: string;
  service: string;
  /** Set when this entry is a replayed message that failed again: the DLQ sequence of the earlier entry. */
  replayedFrom: number | null;
  /** Payload size in bytes. */
  size: number;
}

/** An entry with what `show` and `replay` need besides the parsed headers. */
export interface DlqMessage {
  entry: DlqEntry;
  headers: Record<string, string>;
  /** The original payload bytes, untouched. */
  data: Uint8Array;
}

const numberOrNull = (value: string | undefined): number | null =>
  value !== undefined && /^[0-9]+$/.test(value) ? Number(value) : null;

export function toDlqMessage(msg: StoredMsg): DlqMessage {
  const headers = headerRecord(msg.header);
  const h = (key: string): string => headers[key] ?? "";
  const entry: DlqEntry = {
    seq: msg.seq,
    subject: msg.subject,
    storedAt: msg.time.toISOString(),
    reason: h(DlqHeaders.reason),
    error: h(DlqHeaders.error),
    originalSubject: h(DlqHeaders.originalSubject),
    originalStream: h(DlqHeaders.originalStream),
    originalSequence: numberOrNull(headers[DlqHeaders.originalSequence]),
    originalMsgId: h(DlqHeaders.originalMsgId),
    durable: h(DlqHeaders.durable),
    deliveryCount: numberOrNull(headers[DlqHeaders.deliveryCount]),
    failedAt: h(DlqHeaders.failedAt),
    originalPublishedAt: h(DlqHeaders.originalPublishedAt),
    service: h(DlqHeaders.service),
    replayedFrom: numberOrNull(headers[DlqHeaders.replayedFrom]),
    size: msg.data.length,
  };
  return { entry, headers, data: msg.data };
}

/** What `ls`, `replay` and `purge` select. Every field narrows; none set selects everything. */
export interface DlqFilter {
  /** A subject pattern the original subject must match (`*` and `>` allowed). */
  subject?: string;
  /** Reason with underscores (`max_deliver`). */
  reason?: string;
  /** Dead-lettered (stored in the DLQ) at or after this time, in ms since the epoch. */
  sinceMs?: number;
  /** Only DLQ sequences up to this one. */
  upTo?: number;
  /** The newest `limit` matches at most. */
  limit?: number;
}

/** True when the entry passes the subject and reason filters (time and sequence bound the walk instead). */
export function matches(entry: DlqEntry, filter: DlqFilter): boolean {
  if (filter.reason !== undefined && entry.reason !== filter.reason) return false;
  if (
    filter.subject !== undefined &&
    (entry.originalSubject === "" || !patternCovers(filter.subject, entry.originalSubject))
  )
    return false;
  return true;
}

/** `max-deliver` and `max_deliver` both name the reason written as `max_deliver`. */
export const normalizeReason = (raw: string): string => raw.trim().toLowerCase().replaceAll("-", "_");
