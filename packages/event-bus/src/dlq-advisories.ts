/**
 * Dead-letter accounting: what JetStream says about messages it gave up on, and the log
 * of what operators did with DLQ entries. Both live in one stream (AA_DLQ_ADVISORIES).
 *
 * JetStream has no DLQ of its own: when a durable reaches max deliver it only publishes a
 * `MAX_DELIVERIES` advisory (no payload), and a `term()` publishes `MSG_TERMINATED`.
 * Capturing both shows dead messages that never reached our DLQ (a consumer outside our
 * router, a `term` by hand, the router's last delivery nak'd at shutdown).
 */

/** `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.<stream>.<consumer>` (verified on nats-server 2.9.10). */
export const MAX_DELIVERIES_ADVISORY = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES";
/**
 * `$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.<stream>.<consumer>`; our router's own `term()` after a DLQ copy emits
 * one too.
 */
export const MSG_TERMINATED_ADVISORY = "$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED";
/**
 * `dlq-audit.replayed` / `dlq-audit.purged`: one record per DLQ entry `aa-ops dlq replay|purge` removed or replayed.
 */
export const DLQ_AUDIT_PREFIX = "dlq-audit";

/** Subjects of the accounting stream: every consumer's advisories of both kinds, and the audit log. */
export const DlqAccountingSubjects: readonly string[] = [
  `${MAX_DELIVERIES_ADVISORY}.>`,
  `${MSG_TERMINATED_ADVISORY}.>`,
  `${DLQ_AUDIT_PREFIX}.>`,
];

/** The payload of one audit record (JSON), written before the DLQ entry is deleted. */
export interface DlqAuditRecord {
  action: "replayed" | "purged";
  /** When the action happened, ISO-8601. */
  at: string;
  dlqStream: string;
  dlqSeq: number;
  originalStream: string;
  originalSequence: number | null;
  originalSubject: string;
  originalMsgId: string;
  /** Replays only: the new msg id and where the PubAck said the copy is. */
  replayMsgId?: string;
  replayStream?: string;
  replaySeq?: number;
  duplicate?: boolean;
}
