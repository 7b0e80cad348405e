import type { TopologyNames } from "@aa/event-bus";
import type { JetStreamManager } from "@nats-io/jetstream";
import { openAuditLog, type AuditLog } from "./audit.js";
import type { DlqFilter, DlqMessage } from "./entry.js";
import { purge, type PurgeOutcome } from "./purge.js";
import { selectDlq } from "./read.js";
import { replayableSubjects } from "./replay-rule.js";
import { replay, type ReplayOutcome } from "./replay.js";

/** What `dlq replay` is asked to do. */
export interface DlqReplayRequest {
  /** The topology's names: the DLQ and advisory streams, and the durables whose subjects replay may publish to. */
  names: TopologyNames;
  filter: DlqFilter;
  /** List what would be republished; send and delete nothing, write no audit record. */
  dryRun: boolean;
  /** Keep the DLQ entries after replaying them. */
  keep: boolean;
  /** Messages per second at most. */
  ratePerSecond: number;
}

/** Told as the replay goes, so a caller can show progress. */
export interface DlqReplayEvents {
  /** Once the selection is known, before anything is sent; `audited` is false when replays go unrecorded. */
  started?(selected: number, audited: boolean): void;
  outcome?(outcome: ReplayOutcome): void;
}

export interface DlqReplayResult {
  dlqStream: string;
  /** The only subjects replay published to. */
  subjects: ReadonlySet<string>;
  selected: number;
  /** Oldest first; fewer than `selected` when a broker error stopped the run. */
  outcomes: ReplayOutcome[];
  elapsedMs: number;
}

// A dry run writes no audit record: nothing was replayed.
const disabledAudit: AuditLog = { enabled: false, record: async () => undefined };

/** Selects dead letters and replays them oldest first (see `replay` for the order of publish, audit, delete). */
export async function replayDlq(
  jsm: JetStreamManager,
  request: DlqReplayRequest,
  events: DlqReplayEvents = {},
): Promise<DlqReplayResult> {
  const { dlq, dlqAdvisories } = request.names;
  const subjects = replayableSubjects(request.names);
  const { messages } = await selectDlq(jsm, dlq, request.filter);
  const js = jsm.jetstream();
  const audit = request.dryRun ? disabledAudit : await openAuditLog(jsm, js, dlq, dlqAdvisories);
  events.started?.(messages.length, audit.enabled);
  const start = Date.now();
  const outcomes = await replay([...messages].reverse(), {
    js,
    jsm,
    dlqStream: dlq,
    subjects,
    audit,
    dryRun: request.dryRun,
    keep: request.keep,
    ratePerSecond: request.ratePerSecond,
    report: (o) => events.outcome?.(o),
  });
  return { dlqStream: dlq, subjects, selected: messages.length, outcomes, elapsedMs: Date.now() - start };
}

/**
 * Deletes the given dead letters for good, oldest first, each after its audit record (so `dlq ls --advisories`
 * says "purged"); stops at the first error. `messages` newest first, as `selectDlq` returns them.
 */
export async function purgeDlq(
  jsm: JetStreamManager,
  names: Pick<TopologyNames, "dlq" | "dlqAdvisories">,
  messages: readonly DlqMessage[],
  report: (outcome: PurgeOutcome) => void = () => undefined,
): Promise<PurgeOutcome[]> {
  const audit = await openAuditLog(jsm, jsm.jetstream(), names.dlq, names.dlqAdvisories);
  return purge(jsm, names.dlq, audit, [...messages].reverse(), report);
}
