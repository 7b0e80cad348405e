import { DlqHeaders, TRACE_HEADERS } from "@aa/event-bus";
import type { JetStreamClient, JetStreamManager, PubAck } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/nats-core";
import { errorMessage } from "../output.js";
import type { AuditLog } from "./audit.js";
import type { DlqEntry, DlqMessage } from "./entry.js";
import { refusalOf } from "./replay-rule.js";

/** `refused`: the entry names no subject replay may publish to (see replay-rule.ts); it stays in the DLQ. */
export type ReplayResult = "republished" | "duplicate" | "would_replay" | "refused" | "failed";

/** How many outcomes have `result`. */
export const countResults = (outcomes: readonly ReplayOutcome[], result: ReplayResult): number =>
  outcomes.filter((o) => o.result === result).length;

/** What happened to one selected DLQ entry. */
export interface ReplayOutcome {
  seq: number;
  originalSubject: string;
  msgId: string;
  result: ReplayResult;
  /** Where the PubAck says the republished message is. */
  stream?: string;
  streamSeq?: number;
  /** True once the DLQ entry was deleted (never before the PubAck and the audit record). */
  deleted: boolean;
  /** The delete was sent but not confirmed (e.g. the connection dropped): the entry may or may not be gone. */
  deleteUnconfirmed?: boolean;
  /** Why it was refused or failed. */
  detail?: string;
}

export interface ReplayOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  dlqStream: string;
  /** The only subjects to publish to (`replayableSubjects`); any other entry is refused. */
  subjects: ReadonlySet<string>;
  audit: AuditLog;
  dryRun: boolean;
  keep: boolean;
  /** Messages per second at most. */
  ratePerSecond: number;
  /** Each outcome as it happens. */
  report(outcome: ReplayOutcome): void;
}

const PUBLISH_TIMEOUT_MS = 5_000;

/**
 * The msg id of a replay: `<original msg id>:replay:<dlq seq>`. The original id would be dropped
 * by the stream's duplicate window; this one is new per DLQ entry yet stable, so running the same
 * replay again inside the window stores nothing twice. A replay of a replay keeps the original root.
 */
export function replayMsgId(entry: DlqEntry): string {
  const root = entry.originalMsgId.replace(/(:replay:[0-9]+)+$/, "") || `dlq-${entry.seq}`;
  return `${root}:replay:${entry.seq}`;
}

/**
 * Waits until `1000 / rate` ms have passed since the previous send, and returns the send time.
 * Spacing from the previous send, not a schedule from the start: after one slow publish the
 * next ones must not catch up in a burst above `rate`.
 */
async function pace(previousSendMs: number | undefined, rate: number): Promise<number> {
  const wait = previousSendMs === undefined ? 0 : previousSendMs + 1000 / rate - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  return Date.now();
}

/**
 * Replays DLQ entries in the order given (oldest first). Entries the rule refuses are reported
 * first, all of them, and never sent nor deleted. Then per entry: publish to the original subject
 * and await the PubAck, write the audit record, then delete the DLQ entry (unless `keep`).
 * The first broker error stops the run; that entry and all later ones stay in the DLQ.
 */
export async function replay(messages: readonly DlqMessage[], o: ReplayOptions): Promise<ReplayOutcome[]> {
  const outcomes: ReplayOutcome[] = [];
  const accepted: DlqMessage[] = [];
  for (const message of messages) {
    const refusal = refusalOf(message.entry, o.subjects);
    if (refusal === undefined) accepted.push(message);
    else record(outcomes, base(message.entry, "refused", refusal), o);
  }
  let lastSend: number | undefined;
  for (const message of accepted) {
    if (o.dryRun) record(outcomes, base(message.entry, "would_replay"), o);
    else {
      lastSend = await pace(lastSend, o.ratePerSecond);
      if (record(outcomes, await replayOne(message, o), o).result === "failed") break;
    }
  }
  return outcomes;
}

function record(outcomes: ReplayOutcome[], outcome: ReplayOutcome, o: Pick<ReplayOptions, "report">): ReplayOutcome {
  outcomes.push(outcome);
  o.report(outcome);
  return outcome;
}

const base = (entry: DlqEntry, result: ReplayResult, detail?: string): ReplayOutcome => ({
  seq: entry.seq,
  originalSubject: entry.originalSubject,
  msgId: replayMsgId(entry),
  result,
  deleted: false,
  ...(detail === undefined ? {} : { detail }),
});

async function replayOne(message: DlqMessage, o: ReplayOptions): Promise<ReplayOutcome> {
  const { entry } = message;
  const outcome = base(entry, "failed");
  let ack: PubAck;
  try {
    ack = await publish(message, outcome.msgId, o.js);
  } catch (error) {
    return {
      ...outcome,
      detail: `publish to ${entry.originalSubject} failed: ${publishErrorText(error, entry.originalSubject)}`,
    };
  }
  const done: ReplayOutcome = {
    ...outcome,
    result: ack.duplicate ? "duplicate" : "republished",
    stream: ack.stream,
    streamSeq: ack.seq,
  };
  try {
    await o.audit.record(entry, "replayed", {
      replayMsgId: outcome.msgId,
      replayStream: ack.stream,
      replaySeq: ack.seq,
      duplicate: ack.duplicate,
    });
  } catch (error) {
    return {
      ...done,
      result: "failed",
      detail:
        `republished (${ack.stream} #${ack.seq}), but the audit record failed: ` +
        `${errorMessage(error)}; DLQ entry kept (replaying it again stores nothing twice)`,
    };
  }
  if (o.keep) return done;
  try {
    await o.jsm.streams.deleteMessage(o.dlqStream, entry.seq, false);
  } catch (error) {
    return {
      ...done,
      result: "failed",
      deleteUnconfirmed: true,
      detail:
        `republished (${ack.stream} #${ack.seq}), but deleting DLQ entry #${entry.seq} was not confirmed: ` +
        `${errorMessage(error)} (if it is still there, replaying it again stores nothing twice)`,
    };
  }
  return { ...done, deleted: true };
}

// The v3 client reports "no responders" (no stream captures the subject) as "jetstream is not enabled".
function publishErrorText(error: unknown, subject: string): string {
  if (error instanceof Error && error.name === "JetStreamNotEnabled")
    return `no stream captures ${subject} (no responders)`;
  return errorMessage(error);
}

function publish(message: DlqMessage, msgId: string, js: JetStreamClient): Promise<PubAck> {
  const h = natsHeaders();
  h.set(DlqHeaders.replayedFrom, String(message.entry.seq));
  // The copy's W3C trace context: the replay continues the trace of the original event.
  for (const key of TRACE_HEADERS) if (message.headers[key]) h.set(key, message.headers[key]);
  return js.publish(message.entry.originalSubject, message.data, {
    msgID: msgId,
    headers: h,
    timeout: PUBLISH_TIMEOUT_MS,
  });
}
