import type { JetStreamManager } from "@nats-io/jetstream";
import { errorMessage } from "../output.js";
import type { AuditLog } from "./audit.js";
import type { DlqMessage } from "./entry.js";

export interface PurgeOutcome {
  seq: number;
  reason: string;
  originalSubject: string;
  originalMsgId: string;
  removed: boolean;
  /** Why it was not removed. */
  error?: string;
}

/**
 * Deletes the given DLQ entries one by one (oldest first), each after its audit record.
 * Stops at the first error; the entries after it are untouched.
 */
export async function purge(
  jsm: JetStreamManager,
  dlqStream: string,
  audit: AuditLog,
  messages: readonly DlqMessage[],
  report: (o: PurgeOutcome) => void,
): Promise<PurgeOutcome[]> {
  const outcomes: PurgeOutcome[] = [];
  for (const { entry } of messages) {
    const outcome: PurgeOutcome = {
      seq: entry.seq,
      reason: entry.reason,
      originalSubject: entry.originalSubject,
      originalMsgId: entry.originalMsgId,
      removed: false,
    };
    try {
      await audit.record(entry, "purged");
      await jsm.streams.deleteMessage(dlqStream, entry.seq, false);
      outcome.removed = true;
    } catch (error) {
      outcome.error = errorMessage(error);
    }
    outcomes.push(outcome);
    report(outcome);
    if (!outcome.removed) break;
  }
  return outcomes;
}
