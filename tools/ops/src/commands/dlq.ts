import { topologyNamesFromEnv, type TopologyNames } from "@aa/event-bus";
import type { JetStreamManager } from "@nats-io/jetstream";
import { listAdvisories } from "../dlq/advisories.js";
import { openAuditLog, type AuditLog } from "../dlq/audit.js";
import type { DlqFilter, DlqMessage } from "../dlq/entry.js";
import { purge } from "../dlq/purge.js";
import { getDlqMessage, selectDlq } from "../dlq/read.js";
import { replay, type ReplayOutcome, type ReplayResult } from "../dlq/replay.js";
import { replayableSubjects } from "../dlq/replay-rule.js";
import { purgeLine, replayLine, writeAdvisories, writeEntries, writeShow } from "../dlq/view.js";
import { writeJson, type Writer } from "../output.js";
import { CliError, request, type CliExitCode, type Command, type CommandInput, type OptionSpec } from "./command.js";
import { dlqFilterOf, positiveInt, purgeCommandLine, rateOf, SELECTION_DETAILS } from "./dlq-options.js";

const FILTER_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  subject: {
    type: "string",
    value: "<subject>",
    help: "original subject (X-Dlq-Original-Subject); wildcards * and > allowed",
  },
  reason: {
    type: "string",
    value: "<reason>",
    help: "X-Dlq-Reason: schema_invalid, max_deliver, non_retryable, not_found, not_linked (dashes work too)",
  },
  since: { type: "string", value: "<when>", help: "dead-lettered at or after: 30m, 2h, 7d, or an ISO-8601 time" },
  "up-to": {
    type: "string",
    value: "<seq>",
    help: "only DLQ sequences up to this one (purge prints it so a re-run removes exactly what it listed)",
  },
};
const limitOption = (help: string): Record<string, OptionSpec> => ({ limit: { type: "string", value: "<n>", help } });

const names = (input: CommandInput): TopologyNames => topologyNamesFromEnv(input.env);
const disabledAudit: AuditLog = { enabled: false, record: async () => undefined };

async function lsEntries(jsm: JetStreamManager, input: CommandInput, out: Writer): Promise<CliExitCode> {
  const stream = names(input).dlq;
  const { messages, more } = await selectDlq(jsm, stream, dlqFilterOf(input, 50));
  if (input.json)
    writeJson(
      out,
      messages.map((m) => m.entry),
    );
  else writeEntries(out, stream, messages, more);
  return 0;
}

async function lsAdvisories(jsm: JetStreamManager, input: CommandInput, out: Writer): Promise<CliExitCode> {
  const { dlq, dlqAdvisories } = names(input);
  const filter = dlqFilterOf(input, 50);
  const query = { dlqStream: dlq, advisoryStream: dlqAdvisories, sinceMs: filter.sinceMs, limit: filter.limit ?? 50 };
  const { rows, more } = await request(listAdvisories(jsm, query), { stream: dlqAdvisories }).catch(
    (error: unknown) => {
      if (error instanceof CliError) throw new CliError(`${error.message} (create it with: aa-ops topology apply)`);
      throw error;
    },
  );
  if (input.json) writeJson(out, rows);
  else writeAdvisories(out, dlqAdvisories, rows, more);
  return 0;
}

const lsCommand: Command = {
  words: ["dlq", "ls"],
  args: [],
  summary: "List dead letters, newest first: reason, error, original subject/stream/sequence, durable, ...",
  details: [
    ...SELECTION_DETAILS,
    "--advisories lists the captured MAX_DELIVERIES / MSG_TERMINATED advisories instead (only --since and",
    "--limit apply), each marked in DLQ, replayed, purged, or NOT IN DLQ (a dead message without a copy).",
    "With --json: an array of entries (DLQ headers parsed) or of advisories.",
  ],
  options: {
    ...FILTER_OPTIONS,
    ...limitOption("show at most n (default 50)"),
    advisories: { type: "boolean", help: "list the advisories of dead messages (stream AA_DLQ_ADVISORIES)" },
  },
  prepare(input) {
    const advisories = input.options.advisories === true;
    const misplaced = ["subject", "reason", "up-to"].filter((o) => input.options[o] !== undefined);
    if (advisories && misplaced.length > 0)
      throw new CliError(`--advisories takes only --since and --limit, not --${misplaced.join(", --")}`, 2);
    dlqFilterOf(input, 50);
    return (jsm, out) => (advisories ? lsAdvisories(jsm, input, out) : lsEntries(jsm, input, out));
  },
};

const showCommand: Command = {
  words: ["dlq", "show"],
  args: ["<seq>"],
  summary: "One dead letter: what its headers say, every header, the payload pretty-printed",
  details: ["With --json: the entry (headers parsed), `headers` as sent and `data`, the payload as UTF-8 text."],
  prepare(input) {
    const seq = positiveInt("<seq>", input.args[0]);
    return async (jsm, out) => {
      const stream = names(input).dlq;
      const message = await getDlqMessage(jsm, stream, seq);
      if (input.json)
        writeJson(out, { ...message.entry, headers: message.headers, data: new TextDecoder().decode(message.data) });
      else writeShow(out, stream, message);
      return 0;
    };
  },
};

const count = (outcomes: readonly ReplayOutcome[], result: ReplayResult): number =>
  outcomes.filter((o) => o.result === result).length;

function replaySummary(outcomes: readonly ReplayOutcome[], selected: number, elapsedMs: number): string {
  const deleted = outcomes.filter((o) => o.deleted).length;
  const counts = (["republished", "duplicate", "would_replay", "refused", "failed"] as const)
    .map((r) => `${count(outcomes, r)} ${r}`)
    .join(", ");
  return (
    `Replay: ${counts}; ${deleted} DLQ entries deleted; ${selected - outcomes.length} not attempted ` +
    `(${(elapsedMs / 1000).toFixed(1)} s)`
  );
}

const MAX_LISTED = 20;
const plural = (n: number, one: string, many: string): string => (n === 1 ? one : many);

/** The loud end of a run that refused entries: which, where they stay, what to do (exit 1). */
function refusedError(outcomes: readonly ReplayOutcome[], dlq: string, subjects: ReadonlySet<string>): CliError {
  const refused = outcomes.filter((o) => o.result === "refused");
  const listed = refused
    .slice(0, MAX_LISTED)
    .map((o) => `#${o.seq}`)
    .join(", ");
  const seqs = refused.length > MAX_LISTED ? `${listed}, …` : listed;
  const sent = count(outcomes, "republished") + count(outcomes, "duplicate");
  const listedOnly = count(outcomes, "would_replay");
  const others = listedOnly > 0 ? `${listedOnly} would be replayed (🔍 lines)` : `${sent} replayed (✅ lines)`;
  const n = refused.length;
  return new CliError(
    [
      `refused ${n} dead ${plural(n, "letter", "letters")} (${seqs}): ` +
        `nothing was sent for ${plural(n, "it", "them")}, ` +
        `${plural(n, "it stays", "they stay")} in ${dlq}; each ⛔ line says why.`,
      `Replay publishes only to the pipeline's raw subjects (${[...subjects].join(", ")}), and only when ` +
        "X-Dlq-Original-Subject matches the DLQ subject (dlq.<service>.<subject without athlete-ally.>.<reason>).",
      `The other selected entries went ahead: ${others}.`,
      "Inspect one with: aa-ops dlq show <seq>; once understood, remove it with: " +
        "aa-ops dlq purge --up-to <seq> --limit 1 --yes",
    ].join("\n"),
  );
}

async function runReplay(jsm: JetStreamManager, input: CommandInput, out: Writer): Promise<CliExitCode> {
  const { dlq, dlqAdvisories } = names(input);
  const subjects = replayableSubjects(names(input));
  const dryRun = input.options["dry-run"] === true;
  const keep = input.options.keep === true;
  const ratePerSecond = rateOf(input.options.rate);
  const write = input.json ? () => undefined : out;
  const { messages } = await selectDlq(jsm, dlq, dlqFilterOf(input, undefined));
  const js = jsm.jetstream();
  const audit = dryRun ? disabledAudit : await openAuditLog(jsm, js, dlq, dlqAdvisories);
  write(
    `Replaying ${messages.length} dead letter${messages.length === 1 ? "" : "s"} from ${dlq}, ` +
      `oldest first, at most ${ratePerSecond}/s` +
      (dryRun ? " (dry run: nothing is sent)" : "") +
      (keep ? " (--keep: DLQ entries stay)" : ""),
  );
  if (!dryRun && !audit.enabled)
    write(
      `⚠️  Stream ${dlqAdvisories} is missing: replays are not recorded for dlq ls --advisories ` +
        "(aa-ops topology apply creates it)",
    );
  const start = Date.now();
  const report = (o: ReplayOutcome): void => write(replayLine(o));
  const options = { js, jsm, dlqStream: dlq, subjects, audit, dryRun, keep, ratePerSecond, report };
  const outcomes = await replay([...messages].reverse(), options);
  const summary = replaySummary(outcomes, messages.length, Date.now() - start);
  const failed = outcomes.some((o) => o.result === "failed");
  if (input.json) writeJson(out, { dlqStream: dlq, dryRun, keep, ratePerSecond, selected: messages.length, outcomes });
  write("");
  write(summary);
  if (failed)
    write(
      "Stopped at the first broker error: the entries after it were not attempted and are still in " +
        "the DLQ. Fix the cause and run the same command again (nothing is stored twice).",
    );
  if (count(outcomes, "refused") > 0) throw refusedError(outcomes, dlq, subjects);
  return failed ? 1 : 0;
}

const replayCommand: Command = {
  words: ["dlq", "replay"],
  args: [],
  summary: "Republish dead letters to their original subjects (new msg id), then delete them from the DLQ",
  details: [
    ...SELECTION_DETAILS,
    "Oldest first. Each message goes to its X-Dlq-Original-Subject with msg id <original id>:replay:<dlq seq>",
    "and header X-Dlq-Replayed-From: <dlq seq>; after its PubAck (a duplicate PubAck means it was already",
    "replayed) an audit record is written and the DLQ entry deleted (kept with --keep). The first broker",
    "error stops the run and deletes nothing more. Replaying an event twice stores it once (normalize's guard).",
    "Only the pipeline's raw subjects (those a normalize durable consumes) are published to, and only when",
    "X-Dlq-Original-Subject matches the DLQ subject the entry is in. Any other entry is refused: listed with",
    "the reason, left in the DLQ, never sent; the others are still replayed and the exit code is 1.",
  ],
  options: {
    ...FILTER_OPTIONS,
    ...limitOption("replay at most the newest n matches (default: all)"),
    "dry-run": { type: "boolean", help: "list what would be republished; send nothing" },
    rate: { type: "string", value: "<n>", help: "messages per second at most (default 100)" },
    keep: { type: "boolean", help: "keep the DLQ entries after replaying them" },
  },
  prepare(input) {
    dlqFilterOf(input, undefined);
    rateOf(input.options.rate);
    return (jsm, out) => runReplay(jsm, input, out);
  },
};

function refusePurge(
  input: CommandInput,
  filter: DlqFilter,
  messages: readonly DlqMessage[],
  out: Writer,
  stream: string,
): never {
  const command = purgeCommandLine(input, filter, messages[0]?.entry.seq ?? 0);
  if (input.json) writeJson(out, { refused: true, wouldRemove: messages.map((m) => m.entry), command });
  else writeEntries(out, stream, messages, false);
  throw new CliError(
    `refusing to purge ${messages.length} dead letter${messages.length === 1 ? "" : "s"} from ` +
      `${stream} without --yes. To remove exactly ${messages.length === 1 ? "it" : "these"}, ` +
      `run:\n  ${command}`,
    2,
  );
}

async function runPurge(jsm: JetStreamManager, input: CommandInput, out: Writer): Promise<CliExitCode> {
  const { dlq, dlqAdvisories } = names(input);
  const filter = dlqFilterOf(input, undefined);
  const { messages } = await selectDlq(jsm, dlq, filter);
  if (messages.length === 0) {
    if (input.json) writeJson(out, { removed: [] });
    else out(`No dead letters in ${dlq} match: nothing removed`);
    return 0;
  }
  if (input.options.yes !== true) refusePurge(input, filter, messages, out, dlq);
  const audit = await openAuditLog(jsm, jsm.jetstream(), dlq, dlqAdvisories);
  const write = input.json ? () => undefined : out;
  const outcomes = await purge(jsm, dlq, audit, [...messages].reverse(), (o) => write(purgeLine(o)));
  const removed = outcomes.filter((o) => o.removed).length;
  if (input.json)
    writeJson(out, { removed: outcomes.filter((o) => o.removed), failed: outcomes.filter((o) => !o.removed) });
  write("");
  write(`Purge: ${removed} of ${messages.length} removed from ${dlq}`);
  return removed === messages.length ? 0 : 1;
}

const purgeCommand: Command = {
  words: ["dlq", "purge"],
  args: [],
  summary: "Delete dead letters for good (requires --yes; without it, lists them and prints the command)",
  details: [
    ...SELECTION_DETAILS,
    'Each removal is recorded in the advisories stream, so dlq ls --advisories says "purged".',
  ],
  options: {
    ...FILTER_OPTIONS,
    ...limitOption("remove at most the newest n matches (default: all)"),
    yes: { type: "boolean", help: "really delete" },
  },
  prepare(input) {
    dlqFilterOf(input, undefined);
    return (jsm, out) => runPurge(jsm, input, out);
  },
};

export const dlqCommands: readonly Command[] = [lsCommand, showCommand, replayCommand, purgeCommand];
