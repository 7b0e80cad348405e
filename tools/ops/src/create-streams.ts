import {
  applyPlan,
  planTopology,
  readTopology,
  topologyFor,
  unfinished,
  type ChangeOutcome,
  type StreamChange,
} from "@aa/event-bus";
import type { JetStreamManager } from "@nats-io/jetstream";
import { openJetStream } from "./connection.js";
import { errorMessage, fieldLines, footer, formatMs, header, type Writer } from "./output.js";
import { loadOrReport, yesNo, type ExitCode, type OpsRunOptions } from "./run.js";
import { streamSettingsFromEnv, type StreamSettings } from "./settings.js";
import { callLine } from "./topology/report.js";

/**
 * The command that hands subjects from one stream to another: two streams cannot own overlapping subjects
 * (JetStream error 10065), so subjects move by removal from one and addition to the other, then a drain.
 */
export const migrateCommand = (mode: string): string => `npx aa-ops migrate --to ${mode}`;

/**
 * Creates or corrects the streams of EVENT_STREAM_MODE, idempotently: compares first,
 * updates only real differences, never deletes. If another stream owns any of our subjects
 * nothing at all is changed and the migration command is named instead.
 */
export async function runCreateStreams(options: OpsRunOptions): Promise<ExitCode> {
  const { write } = options;
  const settings = loadOrReport(() => streamSettingsFromEnv(options.env), write);
  if (settings === undefined) return 1;
  header(write, "NATS JetStream - Stream Creation (Idempotent)", [
    ["Environment", settings.environment],
    ["NATS URL", settings.natsUrl],
    ["Replicas", String(settings.replicas)],
    ["Dry Run", yesNo(settings.dryRun)],
  ]);
  const connection = await openJetStream(settings.natsUrl, options.env, "aa-ops create-streams", write);
  if (connection === undefined) return 1;
  write("✅ Connected to NATS");
  try {
    return await createStreams(connection.jsm, settings, write);
  } catch (error) {
    write(`❌ ${errorMessage(error)}`);
    return 1;
  } finally {
    await connection.close();
  }
}

async function createStreams(jsm: JetStreamManager, settings: StreamSettings, write: Writer): Promise<ExitCode> {
  const desired = topologyFor(settings.mode, settings.names, settings.replicas);
  const { streams } = planTopology(await readTopology(jsm), desired);
  // Decide on the whole plan first: a half-applied subject handoff is worse than none.
  if (streams.some((change) => change.kind === "needs_migration")) {
    reportMigrationNeeded(streams, settings.mode, write);
    return 1;
  }
  const onChange = (outcome: ChangeOutcome): void => {
    if (outcome.type === "stream") reportStream(outcome.change, outcome, write);
  };
  const outcomes = await applyPlan(jsm, { streams, consumers: [] }, { dryRun: settings.dryRun, onChange });
  const ok = unfinished(outcomes).length === 0;
  const closing = ok
    ? "✅ All streams processed successfully"
    : "❌ Some streams were not created or corrected (see above)";
  footer(write, settings.dryRun ? [closing, "   Dry run: nothing was sent to the server"] : [closing]);
  return ok ? 0 : 1;
}

function introduce(change: StreamChange, write: Writer): void {
  write("");
  write(`Processing stream: ${change.spec.name}`);
  write(`  Description: ${change.spec.description}`);
}

/** The runbook's lines for one stream: what differs, then what the applier did about it. */
function reportStream(change: StreamChange, outcome: ChangeOutcome, write: Writer): void {
  introduce(change, write);
  const name = change.spec.name;
  if (change.kind === "none") return write(`✓  Stream ${name} exists with correct config`);
  if (change.kind === "forbidden") return reportForbidden(change, write);
  if (change.kind === "needs_migration") return reportConflicts(change, write);
  if (change.kind === "create") {
    write(`➕ Stream ${name} does not exist`);
    write(`   Creating with: ${creationSummary(change)}`);
  } else {
    write(`🔄 Stream ${name} config differs`);
    for (const line of fieldLines(change.fields)) write(line);
  }
  reportSent("stream", name, change.kind === "create" ? "created" : "updated", outcome, write);
}

/** The closing line of one sent (or, in a dry run, unsent) change; shared with create-consumers. */
export function reportSent(
  noun: "stream" | "consumer",
  name: string,
  done: string,
  outcome: ChangeOutcome,
  write: Writer,
): void {
  const what = `${noun === "stream" ? "Stream" : "Consumer"} ${name}`;
  if (outcome.result === "would_apply") {
    if (outcome.call !== undefined) write(`   Would send: ${callLine(outcome.call)}`);
    write(`🔍 Dry run: ${noun} ${name} not ${done}`);
  } else if (outcome.result === "failed") {
    write(`❌ ${what} could not be ${done}: ${errorMessage(outcome.error)}`);
  } else {
    write(`✅ ${what} ${done} successfully`);
  }
}

function creationSummary(change: StreamChange): string {
  const { subjects, replicas, maxAgeMs } = change.spec;
  return `subjects=${subjects.join(",")}, replicas=${replicas}, maxAge=${formatMs(maxAgeMs)}`;
}

function reportForbidden(change: StreamChange, write: Writer): void {
  const name = change.spec.name;
  write(`⛔ Stream ${name} differs in fields that are fixed at creation`);
  for (const line of fieldLines(change.fields)) write(line);
  write(`   Storage and retention cannot change in place, and this script never deletes a`);
  write(`   stream that may hold data. Stream ${name} was not changed.`);
}

function reportConflicts(change: StreamChange, write: Writer): void {
  write(`⛔ Stream ${change.spec.name}: its subjects are owned by another stream`);
  for (const c of change.conflicts) {
    write(
      `   ${c.subject} is owned by stream ${c.ownedBy}` +
        (c.ownerPattern === c.subject ? "" : ` (its subject ${c.ownerPattern})`),
    );
  }
}

/** Our subjects are owned by another stream: say by whom, change nothing, name the migration. */
function reportMigrationNeeded(streams: readonly StreamChange[], mode: string, write: Writer): void {
  for (const change of streams) {
    introduce(change, write);
    if (change.kind === "needs_migration") {
      reportConflicts(change, write);
    } else if (change.kind === "none") {
      write(`✓  Stream ${change.spec.name} exists with correct config`);
    } else {
      write(
        `⏸  Stream ${change.spec.name}: ${change.kind} not applied (nothing is changed while ` +
          "subjects are owned elsewhere)",
      );
    }
  }
  const owners = [...new Set(streams.flatMap((change) => change.conflicts.map((c) => c.ownedBy)))];
  footer(write, [
    `❌ No stream was changed: ${owners.join(", ")} owns subjects of the ${mode} streams`,
    "   Two streams cannot own the same subject (JetStream error 10065), and there is",
    "   no atomic move. The handoff (and draining the old stream) is done by the migration:",
    `   ${migrateCommand(mode)}`,
  ]);
}
