import { DLQ_AUDIT_PREFIX, ifExists, type DlqAuditRecord } from "@aa/event-bus";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { DlqEntry } from "./entry.js";

/**
 * Writes one audit record per replayed or purged DLQ entry into the accounting stream, so
 * `dlq ls --advisories` can tell "replayed" from "never reached the DLQ" after the entry is gone.
 */
export interface AuditLog {
  /** False when the accounting stream does not exist: records are skipped (the caller says so once). */
  readonly enabled: boolean;
  record(entry: DlqEntry, action: DlqAuditRecord["action"], extra?: Partial<DlqAuditRecord>): Promise<void>;
}

export async function openAuditLog(
  jsm: JetStreamManager,
  js: JetStreamClient,
  dlqStream: string,
  auditStream: string,
): Promise<AuditLog> {
  const exists = (await ifExists(jsm.streams.info(auditStream))) !== undefined;
  return {
    enabled: exists,
    async record(entry, action, extra = {}) {
      if (!exists) return;
      const record: DlqAuditRecord = {
        action,
        at: new Date().toISOString(),
        dlqStream,
        dlqSeq: entry.seq,
        originalStream: entry.originalStream,
        originalSequence: entry.originalSequence,
        originalSubject: entry.originalSubject,
        originalMsgId: entry.originalMsgId,
        ...extra,
      };
      // The msg id makes a retried record (after a lost PubAck) land once.
      await js.publish(`${DLQ_AUDIT_PREFIX}.${action}`, JSON.stringify(record), {
        msgID: `audit:${action}:${dlqStream}:${entry.seq}`,
        timeout: 5_000,
      });
    },
  };
}
