import {
  applyPlan,
  consumerSpecs,
  coveringPattern,
  diffConsumer,
  ifExists,
  owningStream,
  readTopology,
  topologyFor,
  unfinished,
  type ChangeOutcome,
  type ConsumerChange,
  type ConsumerSpec,
} from "@aa/event-bus";
import type { JetStreamManager } from "@nats-io/jetstream";
import { openJetStream } from "./connection.js";
import { migrateCommand, reportSent } from "./create-streams.js";
import { errorMessage, fieldLines, footer, formatMs, header, type Writer } from "./output.js";
import { loadOrReport, yesNo, type ExitCode, type OpsRunOptions } from "./run.js";
import { consumerSettingsFromEnv, type ConsumerSettings } from "./settings.js";

/** A durable and the stream it goes on (undefined: no stream captures its subject). */
interface Target {
  spec: ConsumerSpec;
  stream: string | undefined;
}

/**
 * Creates or corrects every normalize durable, idempotently. With STREAM_NAME, the durables
 * whose subjects that stream actually captures; without, each on the stream owning its subject.
 */
export async function runCreateConsumers(options: OpsRunOptions): Promise<ExitCode> {
  const { write } = options;
  const settings = loadOrReport(() => consumerSettingsFromEnv(options.env), write);
  if (settings === undefined) return 1;
  header(write, "NATS JetStream - Consumer Creation (Idempotent)", [
    ["NATS URL", settings.natsUrl],
    ["Stream", settings.streamName ?? "(the stream that owns each durable's subject)"],
    ["Dry Run", yesNo(settings.dryRun)],
  ]);
  const connection = await openJetStream(settings.natsUrl, options.env, "aa-ops create-consumers", write);
  if (connection === undefined) return 1;
  write("✅ Connected to NATS");
  try {
    return await createConsumers(connection.jsm, settings, write);
  } catch (error) {
    write(`❌ ${errorMessage(error)}`);
    return 1;
  } finally {
    await connection.close();
  }
}

async function createConsumers(jsm: JetStreamManager, settings: ConsumerSettings, write: Writer): Promise<ExitCode> {
  const specs = consumerSpecs(settings.names);
  const targets =
    settings.streamName === undefined
      ? await targetsByOwner(jsm, specs)
      : await targetsOnStream(jsm, settings, specs, write);
  if (targets === undefined) return 1;
  const current = await readTopology(jsm);
  const consumers = targets.map(({ spec, stream }) => diffConsumer(spec, stream, current));
  const onChange = (outcome: ChangeOutcome): void => {
    if (outcome.type === "consumer") reportConsumer(outcome.change, outcome, settings, write);
  };
  // One failing durable must not hide the others: the applier goes on, then we report.
  const outcomes = await applyPlan(jsm, { streams: [], consumers }, { dryRun: settings.dryRun, onChange });
  const ok = unfinished(outcomes).length === 0;
  const closing = ok
    ? "✅ All consumers processed successfully"
    : "❌ Some consumers were not created or corrected (see above)";
  footer(write, settings.dryRun ? [closing, "   Dry run: nothing was sent to the server"] : [closing]);
  return ok ? 0 : 1;
}

/** The durables whose filter subjects the named stream's actual subjects capture. */
async function targetsOnStream(
  jsm: JetStreamManager,
  settings: ConsumerSettings,
  specs: ConsumerSpec[],
  write: Writer,
): Promise<Target[] | undefined> {
  const name = settings.streamName ?? "";
  const info = await ifExists(jsm.streams.info(name));
  if (info === undefined) {
    write("");
    write(`❌ Stream ${name} does not exist`);
    writeCreateStreamsHint(name, settings, write);
    footer(write, ["❌ No consumer was created or checked"]);
    return undefined;
  }
  const subjects = info.config.subjects ?? [];
  write("");
  write(`✓  Stream ${name} exists`);
  write(`   Subjects: ${subjects.join(", ")}`);
  write(`   Messages: ${info.state.messages}`);
  const covered = specs.filter((spec) => coveringPattern(subjects, spec.filterSubject) !== undefined);
  if (covered.length === 0) {
    write(
      `❌ Stream ${name} captures none of the durables' subjects (${specs.map((s) => s.filterSubject).join(", ")})`,
    );
    footer(write, ["❌ No consumer was created or checked"]);
    return undefined;
  }
  return covered.map((spec) => ({ spec, stream: name }));
}

/** Each durable on the existing stream that captures its subject (one stream at most). */
async function targetsByOwner(jsm: JetStreamManager, specs: ConsumerSpec[]): Promise<Target[]> {
  const targets: Target[] = [];
  for (const spec of specs) {
    const stream = await ifExists(jsm.streams.find(spec.filterSubject));
    targets.push({ spec, stream });
  }
  return targets;
}

function writeCreateStreamsHint(stream: string, settings: ConsumerSettings, write: Writer): void {
  const modePrefix = settings.mode === "multi" ? "" : `EVENT_STREAM_MODE=${settings.mode} `;
  write("   Create the streams first:");
  write(`   ${modePrefix}NATS_URL=${settings.natsUrl} node create-streams.js`);
  // The same plan and applier as the runbook script; what the Kubernetes topology Job runs.
  write(`   (or: NATS_URL=${settings.natsUrl} npx aa-ops topology apply --mode ${settings.mode})`);
  const expected = topologyFor(settings.mode, settings.names, 1).streams.map((s) => s.name);
  if (stream !== "" && !expected.includes(stream)) {
    write(
      `   (${stream} is not a stream of EVENT_STREAM_MODE=${settings.mode}, whose streams are ${expected.join(", ")})`,
    );
  }
}

/** The runbook's lines for one durable: what differs, then what the applier did about it. */
function reportConsumer(
  change: ConsumerChange,
  outcome: ChangeOutcome,
  settings: ConsumerSettings,
  write: Writer,
): void {
  const { spec, stream } = change;
  write("");
  write(`Processing consumer: ${spec.durable}`);
  write(`  Description: ${spec.description}`);
  if (stream === undefined) return reportNoStream(spec, settings, write);
  if (settings.streamName === undefined) noteUnexpectedOwner(change, settings, write);
  const name = spec.durable;
  if (change.kind === "none") return write(`✓  Consumer ${name} exists with correct config`);
  if (change.kind !== "create" && change.kind !== "update") return reportForbidden(change, write);
  if (change.kind === "create") {
    write(`➕ Consumer ${name} does not exist`);
    write(`   Creating on stream: ${stream}`);
    write(`   Filter subject: ${spec.filterSubject}`);
    write(`   Max deliver: ${spec.maxDeliver}, Ack wait: ${formatMs(spec.ackWaitMs)}`);
  } else {
    write(`🔄 Consumer ${name} config differs (stream ${stream})`);
    for (const line of fieldLines(change.fields)) write(line);
  }
  reportSent("consumer", name, change.kind === "create" ? "created" : "updated", outcome, write);
}

function reportNoStream(spec: ConsumerSpec, settings: ConsumerSettings, write: Writer): void {
  write(`❌ No stream captures subject ${spec.filterSubject}; consumer ${spec.durable} not created`);
  writeCreateStreamsHint("", settings, write);
}

function reportForbidden(change: ConsumerChange, write: Writer): void {
  const name = change.spec.durable;
  write(`⛔ Consumer ${name} on stream ${change.stream ?? ""} differs in fields that are fixed at creation`);
  for (const line of fieldLines(change.fields)) write(line);
  write("   Ack policy and deliver policy cannot change in place, and this script never deletes");
  write(`   a durable (it holds the delivery position and unacked messages). ${name} was not changed.`);
}

// Before the migration the legacy stream still owns the subjects: legal, but say so.
function noteUnexpectedOwner(change: ConsumerChange, settings: ConsumerSettings, write: Writer): void {
  const expected = owningStream(topologyFor(settings.mode, settings.names, 1).streams, change.spec.filterSubject);
  if (expected === undefined || expected === change.stream) return;
  write(
    `   Note: EVENT_STREAM_MODE=${settings.mode} expects this durable on ${expected}, but ${change.stream ?? ""} owns`,
  );
  write(`   ${change.spec.filterSubject}; the subjects move with: ${migrateCommand(settings.mode)}`);
}
