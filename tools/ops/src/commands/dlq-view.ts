import { payloadLines, rows, table, type Writer } from "../output.js";
import type { AdvisoryRow } from "../dlq/advisories.js";
import type { DlqEntry, DlqMessage } from "../dlq/entry.js";
import type { PurgeOutcome } from "../dlq/purge.js";
import { countResults, type ReplayOutcome } from "../dlq/replay.js";

const ERROR_WIDTH = 60;

/** `2026-11-27T03:15:14Z`: seconds are enough in a table; `show` and `--json` keep the full value. */
const short = (iso: string): string => (iso === "" ? "-" : iso.replace(/\.[0-9]+Z$/, "Z"));
const clip = (text: string, width: number): string => (text.length <= width ? text : `${text.slice(0, width - 1)}…`);
const orDash = (value: string | number | null): string => (value === null || value === "" ? "-" : String(value));
const position = (entry: DlqEntry): string =>
  entry.originalStream === "" ? "-" : `${entry.originalStream} #${orDash(entry.originalSequence)}`;

const ENTRY_HEADINGS = [
  "Seq",
  "Failed At",
  "Published At",
  "Reason",
  "Original Subject",
  "Original",
  "Durable",
  "Dlv",
  "Service",
  "Msg Id",
  "Error",
];

function entryRow(e: DlqEntry): string[] {
  return [
    String(e.seq),
    short(e.failedAt || e.storedAt),
    short(e.originalPublishedAt),
    orDash(e.reason),
    orDash(e.originalSubject),
    position(e),
    orDash(e.durable),
    orDash(e.deliveryCount),
    orDash(e.service),
    orDash(e.originalMsgId),
    clip(e.error, ERROR_WIDTH),
  ];
}

/** The `dlq ls` table, newest first, and a line saying how much it showed. */
export function writeEntries(write: Writer, stream: string, messages: readonly DlqMessage[], more: boolean): void {
  if (messages.length === 0) {
    write(`No dead letters in ${stream} match`);
    return;
  }
  table(
    write,
    ENTRY_HEADINGS,
    messages.map((m) => entryRow(m.entry)),
  );
  write("");
  write(
    `${messages.length} dead letter${messages.length === 1 ? "" : "s"} in ${stream}, newest first` +
      `${more ? "; more match (raise --limit)" : ""}. Details: aa-ops dlq show <seq>`,
  );
}

/** `dlq show <seq>`: what the headers say, every header, then the payload. */
export function writeShow(write: Writer, stream: string, message: DlqMessage): void {
  const e = message.entry;
  write(`Dead letter ${stream} #${e.seq}`);
  rows(write, [
    ["Subject", e.subject],
    ["Stored", e.storedAt],
    ["Reason", orDash(e.reason)],
    ["Error", orDash(e.error)],
    ["Original Subject", orDash(e.originalSubject)],
    ["Original", `${position(e)}, msg id ${orDash(e.originalMsgId)}`],
    ["Durable", `${orDash(e.durable)} (service ${orDash(e.service)}), delivery ${orDash(e.deliveryCount)}`],
    ["Published At", orDash(e.originalPublishedAt)],
    ["Failed At", orDash(e.failedAt)],
    ...(e.replayedFrom === null
      ? []
      : ([["Replayed From", `#${e.replayedFrom} (it failed again after a replay)`]] as [string, string][])),
  ]);
  write("");
  write("Headers:");
  const headers = Object.entries(message.headers);
  if (headers.length === 0) write("  (none)");
  for (const [k, v] of headers) write(`  ${k}: ${v}`);
  write("");
  write(`Payload (${e.size} bytes):`);
  for (const line of payloadLines(new TextDecoder().decode(message.data))) write(line);
}

const STATUS_TEXT: Record<AdvisoryRow["status"], (row: AdvisoryRow) => string> = {
  in_dlq: (r) => `in DLQ #${r.dlqSeq}`,
  replayed: (r) => `replayed (was DLQ #${r.dlqSeq})`,
  purged: (r) => `purged (was DLQ #${r.dlqSeq})`,
  missing: () => "NOT IN DLQ",
};

/** `dlq ls --advisories`: each advisory with the stream sequence it points to. */
export function writeAdvisories(write: Writer, stream: string, list: readonly AdvisoryRow[], more: boolean): void {
  if (list.length === 0) {
    write(`No advisories in ${stream} match`);
    return;
  }
  const body = list.map((r) => [
    String(r.seq),
    short(r.time),
    r.kind,
    r.stream,
    String(r.streamSeq),
    r.consumer,
    String(r.deliveries),
    STATUS_TEXT[r.status](r),
  ]);
  table(write, ["Seq", "Time", "Advisory", "Stream", "Stream Seq", "Consumer", "Deliveries", "Status"], body);
  write("");
  const missing = list.filter((r) => r.status === "missing");
  write(
    `${list.length} advisor${list.length === 1 ? "y" : "ies"} in ${stream}, newest first` +
      `${more ? "; more match (raise --limit)" : ""}; ${missing.length} never reached the DLQ.`,
  );
  if (missing.length > 0)
    write("Those messages stay in their stream until its max age: aa-ops stream get <stream> <stream seq>");
}

/** One line per replayed entry. */
export function replayLine(o: ReplayOutcome): string {
  const to = `${o.stream ?? "?"} #${o.streamSeq ?? "?"}`;
  const fate = o.deleted
    ? "DLQ entry deleted"
    : o.deleteUnconfirmed
      ? "DLQ entry deletion unconfirmed"
      : "DLQ entry kept";
  switch (o.result) {
    case "republished":
      return `✅ #${o.seq} ${o.originalSubject} → ${to} as ${o.msgId}; ${fate}`;
    case "duplicate":
      return (
        `✅ #${o.seq} ${o.originalSubject} already in ${to} (msg id ${o.msgId} replayed before, ` +
        `within the duplicate window); ${fate}`
      );
    case "would_replay":
      return `🔍 #${o.seq} would republish to ${o.originalSubject} as ${o.msgId}`;
    case "refused":
      return `⛔ #${o.seq} refused, nothing sent, DLQ entry kept: ${o.detail ?? ""}`;
    case "failed":
      return `❌ #${o.seq} ${o.originalSubject}: ${o.detail ?? "failed"}; ${fate}`;
  }
}

export function purgeLine(o: PurgeOutcome): string {
  const what = `${orDash(o.reason)}, ${orDash(o.originalSubject)}, msg id ${orDash(o.originalMsgId)}`;
  return o.removed ? `🗑  #${o.seq} removed (${what})` : `❌ #${o.seq} not removed: ${o.error ?? "?"}`;
}

/** `Replay: 3 republished, 0 duplicate, …; 3 DLQ entries deleted; 0 not attempted (0.1 s)`. */
export function replaySummary(outcomes: readonly ReplayOutcome[], selected: number, elapsedMs: number): string {
  const deleted = outcomes.filter((o) => o.deleted).length;
  const counts = (["republished", "duplicate", "would_replay", "refused", "failed"] as const)
    .map((r) => `${countResults(outcomes, r)} ${r}`)
    .join(", ");
  return (
    `Replay: ${counts}; ${deleted} DLQ entries deleted; ${selected - outcomes.length} not attempted ` +
    `(${(elapsedMs / 1000).toFixed(1)} s)`
  );
}

const MAX_LISTED = 20;
const plural = (n: number, one: string, many: string): string => (n === 1 ? one : many);

/** The loud end of a run that refused entries: which, where they stay, what to do. */
export function refusedMessage(outcomes: readonly ReplayOutcome[], dlq: string, subjects: ReadonlySet<string>): string {
  const refused = outcomes.filter((o) => o.result === "refused");
  const listed = refused
    .slice(0, MAX_LISTED)
    .map((o) => `#${o.seq}`)
    .join(", ");
  const seqs = refused.length > MAX_LISTED ? `${listed}, …` : listed;
  const sent = countResults(outcomes, "republished") + countResults(outcomes, "duplicate");
  const listedOnly = countResults(outcomes, "would_replay");
  const others = listedOnly > 0 ? `${listedOnly} would be replayed (🔍 lines)` : `${sent} replayed (✅ lines)`;
  const n = refused.length;
  return [
    `refused ${n} dead ${plural(n, "letter", "letters")} (${seqs}): ` +
      `nothing was sent for ${plural(n, "it", "them")}, ` +
      `${plural(n, "it stays", "they stay")} in ${dlq}; each ⛔ line says why.`,
    `Replay publishes only to the pipeline's raw subjects (${[...subjects].join(", ")}), and only when ` +
      "X-Dlq-Original-Subject matches the DLQ subject (dlq.<service>.<subject without athlete-ally.>.<reason>).",
    `The other selected entries went ahead: ${others}.`,
    "Inspect one with: aa-ops dlq show <seq>; once understood, remove it with: " +
      "aa-ops dlq purge --up-to <seq> --limit 1 --yes",
  ].join("\n");
}
