import { topologyNamesFromEnv, type TopologyNames } from "@aa/event-bus";
import type { JetStreamManager } from "@nats-io/jetstream";
import { listAdvisories } from "../dlq/advisories.js";
import type { DlqFilter, DlqMessage } from "../dlq/entry.js";
import { getDlqMessage, selectDlq } from "../dlq/read.js";
import { countResults } from "../dlq/replay.js";
import { purgeDlq, replayDlq } from "../dlq/run.js";
import { OpsError } from "../errors.js";
import { request } from "../jetstream.js";
import { writeJson, type Writer } from "../output.js";
import { CliError, type CliExitCode, type Command, type CommandInput, type OptionSpec } from "./command.js";
import { dlqFilterOf, positiveInt, purgeCommandLine, rateOf, SELECTION_DETAILS } from "./dlq-options.js";
import {
  purgeLine,
  refusedMessage,
  replayLine,
  replaySummary,
  writeAdvisories,
  writeEntries,
  writeShow,
} from "./dlq-view.js";

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
      if (error instanceof OpsError) throw new CliError(`${error.message} (create it with: aa-ops topology apply)`);
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

async function runReplay(jsm: JetStreamManager, input: CommandInput, out: Writer): Promise<CliExitCode> {
  const topology = names(input);
  const dryRun = input.options["dry-run"] === true;
  const keep = input.options.keep === true;
  const ratePerSecond = rateOf(input.options.rate);
  const write = input.json ? () => undefined : out;
  const started = (selected: number, audited: boolean): void => {
    write(
      `Replaying ${selected} dead letter${selected === 1 ? "" : "s"} from ${topology.dlq}, ` +
        `oldest first, at most ${ratePerSecond}/s` +
        (dryRun ? " (dry run: nothing is sent)" : "") +
        (keep ? " (--keep: DLQ entries stay)" : ""),
    );
    if (!dryRun && !audited)
      write(
        `⚠️  Stream ${topology.dlqAdvisories} is missing: replays are not recorded for dlq ls --advisories ` +
          "(aa-ops topology apply creates it)",
      );
  };
  const filter = dlqFilterOf(input, undefined);
  const request = { names: topology, filter, dryRun, keep, ratePerSecond };
  const result = await replayDlq(jsm, request, { started, outcome: (o) => write(replayLine(o)) });
  const { outcomes, selected, dlqStream } = result;
  const failed = outcomes.some((o) => o.result === "failed");
  if (input.json) writeJson(out, { dlqStream, dryRun, keep, ratePerSecond, selected, outcomes });
  write("");
  write(replaySummary(outcomes, selected, result.elapsedMs));
  if (failed)
    write(
      "Stopped at the first broker error: the entries after it were not attempted and are still in " +
        "the DLQ. Fix the cause and run the same command again (nothing is stored twice).",
    );
  // Exit 1, loudly: the refused entries stay in the DLQ and need a person.
  if (countResults(outcomes, "refused") > 0) throw new CliError(refusedMessage(outcomes, dlqStream, result.subjects));
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
  const write = input.json ? () => undefined : out;
  const outcomes = await purgeDlq(jsm, { dlq, dlqAdvisories }, messages, (o) => write(purgeLine(o)));
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
