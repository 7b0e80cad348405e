import {
  applyConsumerChange,
  consumerCall,
  consumerSpecs,
  coveringPattern,
  diffConsumer,
  ifExists,
  owningStream,
  readTopology,
  topologyFor,
  type ConsumerChange,
  type ConsumerSpec,
  type CurrentTopology,
} from "@aa/event-bus";
import type { JetStreamManager } from "@nats-io/jetstream";
import { openJetStream } from "./connection.js";
import { migrateCommand } from "./create-streams.js";
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
    settings.streamName === undefined ? await targetsByOwner(jsm, specs) : await targetsOnStream(jsm, settings, specs, write);
  if (targets === undefined) return 1;
  const current = await readTopology(jsm);
  let ok = true;
  // One failing durable must not hide the others: process all, then report.
  for (const target of targets) ok = (await processTarget(jsm, target, current, settings, write)) && ok;
  const closing = ok ? "✅ All consumers processed successfully" : "❌ Some consumers were not created or corrected (see above)";
  footer(write, settings.dryRun ? [closing, "   Dry run: nothing was sent to the server"] : [closing]);
  return ok ? 0 : 1;
}

/** The durables whose filter subjects the named stream's actual subjects capture. */
async function targetsOnStream(jsm: JetStreamManager, settings: ConsumerSettings, specs: ConsumerSpec[], write: Writer): Promise<Target[] | undefined> {
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
    write(`❌ Stream ${name} captures none of the durables' subjects (${specs.map((s) => s.filterSubject).join(", ")})`);
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
  const expected = topologyFor(settings.mode, settings.names, 1).streams.map((s) => s.name);
  if (stream !== "" && !expected.includes(stream)) {
    write(`   (${stream} is not a stream of EVENT_STREAM_MODE=${settings.mode}, whose streams are ${expected.join(", ")})`);
  }
}

async function processTarget(jsm: JetStreamManager, target: Target, current: CurrentTopology, settings: ConsumerSettings, write: Writer): Promise<boolean> {
  const { spec, stream } = target;
  write("");
  write(`Processing consumer: ${spec.durable}`);
  write(`  Description: ${spec.description}`);
  if (stream === undefined) return reportNoStream(spec, settings, write);
  return processConsumer(jsm, diffConsumer(spec, stream, current), settings, write);
}

function reportNoStream(spec: ConsumerSpec, settings: ConsumerSettings, write: Writer): boolean {
  write(`❌ No stream captures subject ${spec.filterSubject}; consumer ${spec.durable} not created`);
  writeCreateStreamsHint("", settings, write);
  return false;
}

/** Reports and applies one consumer change; false when the durable is not as desired afterwards. */
async function processConsumer(jsm: JetStreamManager, change: ConsumerChange, settings: ConsumerSettings, write: Writer): Promise<boolean> {
  const name = change.spec.durable;
  if (settings.streamName === undefined) noteUnexpectedOwner(change, settings, write);
  if (change.kind === "none") {
    write(`✓  Consumer ${name} exists with correct config`);
    return true;
  }
  if (change.kind !== "create" && change.kind !== "update") {
    reportForbidden(change, write);
    return false;
  }
  if (change.kind === "create") {
    write(`➕ Consumer ${name} does not exist`);
    write(`   Creating on stream: ${change.stream ?? ""}`);
    write(`   Filter subject: ${change.spec.filterSubject}`);
    write(`   Max deliver: ${change.spec.maxDeliver}, Ack wait: ${formatMs(change.spec.ackWaitMs)}`);
  } else {
    write(`🔄 Consumer ${name} config differs (stream ${change.stream ?? ""})`);
    for (const line of fieldLines(change.fields)) write(line);
  }
  return send(jsm, change, settings.dryRun, change.kind === "create" ? "created" : "updated", write);
}

async function send(jsm: JetStreamManager, change: ConsumerChange, dryRun: boolean, done: string, write: Writer): Promise<boolean> {
  const name = change.spec.durable;
  if (dryRun) {
    const call = consumerCall(change);
    if (call !== undefined) write(`   Would send: ${call.api} ${JSON.stringify(call.body)}`);
    write(`🔍 Dry run: consumer ${name} not ${done}`);
    return true;
  }
  try {
    await applyConsumerChange(jsm, change);
  } catch (error) {
    write(`❌ Consumer ${name} could not be ${done}: ${errorMessage(error)}`);
    return false;
  }
  write(`✅ Consumer ${name} ${done} successfully`);
  return true;
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
  write(`   Note: EVENT_STREAM_MODE=${settings.mode} expects this durable on ${expected}, but ${change.stream ?? ""} owns`);
  write(`   ${change.spec.filterSubject}; the subjects move with: ${migrateCommand(settings.mode)}`);
}
