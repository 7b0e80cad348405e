import { randomUUID } from "node:crypto";
import type { JetStreamManager } from "@nats-io/jetstream";
import {
  applyPlan,
  diffConsumer,
  ifExists,
  readTopology,
  unfinished,
  type ChangeOutcome,
  type StreamChange,
  type StreamMode,
  type TopologyNames,
  type TopologyPlan,
} from "@aa/event-bus";
import { errorMessage, type Writer } from "../output.js";
import { describeOutcome, writeOutcome } from "../topology/report.js";
import {
  parkedSubject,
  planMigration,
  probeSubject,
  type Handoff,
  type MigrationPlan,
  type SubjectMove,
  type UnknownConsumer,
} from "./plan.js";
import { checkHealth, type HealthTarget } from "./preflight.js";
import { forwardUnprocessed, type ForwardLedger } from "./forward.js";

export interface MigrateOptions {
  to: StreamMode;
  names: TopologyNames;
  replicas: number;
  /**
   * Set when `replicas` must not be used to create streams (production with fewer than 3 replicas
   * not typed as --replicas): the run stops before creating any, saying why.
   */
  replicasRefusal?: string;
  dryRun: boolean;
  /** `/health` endpoints that must answer 200 before anything moves (empty: --skip-health-check). */
  health: readonly HealthTarget[];
  /**
   * Source durables not waited for: their backlog stays on the source stream until its max_age
   * (e.g. normalize-oura when normalize runs without Oura: nothing consumes it in either topology).
   */
  drainIgnore: readonly string[];
  /** Move even when a source stream has consumers the pipeline does not define (they are cut off). */
  allowUnknownConsumers: boolean;
  /** Give up waiting for the source durables to drain after this long, in ms. */
  drainTimeoutMs: number;
  /**
   * Rollback without the new normalize (`--forward-unprocessed`, only with `to: "single"`): instead of
   * waiting for it to drain the hot-stream durables, copy their unprocessed messages to the legacy
   * stream in the 1.0 envelope and ack them there. Bounded by `drainTimeoutMs`.
   */
  forwardUnprocessed?: boolean;
  /** Test hook: stop the forward right after this many copies got their PubAck, before acking the last. */
  interruptForwardAfterCopies?: number;
  /** How often drain progress is polled and shown, in ms. */
  pollMs: number;
  write: Writer;
  /** Test hook: stop right after the source stream gave up its subjects (an interrupted run). */
  interruptAfterSourceUpdate?: boolean;
}

/** What a run did, for `--json` and the closing note. */
export interface MigrationReport {
  to: StreamMode;
  alreadyDone: boolean;
  moved: { pattern: string; from: string; to: string; gapMs: number }[];
  probes: { subject: string; stream: string }[];
  drainMs: number;
  /** Per hot-stream durable, what `forwardUnprocessed` copied (absent when it was not asked for). */
  forwarded?: ForwardLedger[];
  /** Consumers cut off (or, refused, that would be) by the move: not the pipeline's durables. */
  unknownConsumers: UnknownConsumer[];
  ok: boolean;
  error?: string;
}

class MigrationError extends Error {}

const now = () => performance.now();

async function pendingOf(jsm: JetStreamManager, stream: string, durable: string): Promise<number> {
  const info = await ifExists(jsm.consumers.info(stream, durable));
  return info ? info.num_pending + info.num_ack_pending : 0;
}

/**
 * Another reader of a source stream gets nothing new after the handoff and nobody notices:
 * refuse unless the operator said those readers may be cut off.
 */
function checkUnknownConsumers(plan: MigrationPlan, o: MigrateOptions): void {
  if (plan.unknownConsumers.length === 0) return;
  const list = plan.unknownConsumers
    .map((c) => `${c.stream}/${c.name}${c.filterSubject ? ` (filter ${c.filterSubject})` : ""}`)
    .join(", ");
  const streams = [...new Set(plan.unknownConsumers.map((c) => c.stream))];
  const why =
    `consumers that are not the pipeline's durables: ${list}. ` +
    "After the handoff they receive nothing new, silently";
  if (!o.allowUnknownConsumers) {
    const check = streams.map((s) => `aa-ops consumer ls ${s}`).join("; ");
    throw new MigrationError(
      `${why}. Move their readers to the target streams first (check: ${check}), or pass ` +
        "--allow-unknown-consumers to cut them off",
    );
  }
  o.write(`⚠️  ${why} (--allow-unknown-consumers)`);
}

/** Sends changes through the shared applier, printing each in its format; the first one not made stops the run. */
async function apply(jsm: JetStreamManager, plan: TopologyPlan, o: MigrateOptions): Promise<void> {
  const onChange = (outcome: ChangeOutcome): void => writeOutcome(o.write, describeOutcome(outcome));
  const [stopped] = unfinished(await applyPlan(jsm, plan, { dryRun: o.dryRun, onChange }));
  if (stopped === undefined) return;
  if (stopped.result === "failed") throw stopped.error;
  throw new MigrationError(`${stopped.type} ${describeOutcome(stopped).name} was not changed (${stopped.change.kind})`);
}

const streamsOnly = (streams: StreamChange[]): TopologyPlan => ({ streams, consumers: [] });

/** Creates missing target streams parked (a placeholder subject), so they exist before the handoff. */
async function createMissingStreams(jsm: JetStreamManager, plan: MigrationPlan, o: MigrateOptions): Promise<void> {
  if (plan.creates.length > 0 && o.replicasRefusal !== undefined) {
    const streams = plan.creates.map((c) => c.spec.name).join(", ");
    throw new MigrationError(`not creating ${streams} with ${o.replicas} replica(s): ${o.replicasRefusal}`);
  }
  for (const change of plan.creates) {
    const name = change.spec.name;
    const parked = change.spec.subjects.includes(parkedSubject(name));
    o.write(
      `➕ Create stream ${name}` + (parked ? ` parked on ${parkedSubject(name)} until it takes its subjects` : ""),
    );
    await apply(jsm, streamsOnly([change]), o);
  }
}

/**
 * The handoff of one source → target pair: remove the subjects from the source, then at
 * once add them to the target. Publishers see "no responders" in between and retry
 * with the same msg id; nothing else can make the move atomic.
 */
async function handoff(jsm: JetStreamManager, step: Handoff, o: MigrateOptions): Promise<number> {
  const patterns = step.moves.map((m) => m.pattern).join(", ");
  o.write(`🔀 Hand over ${patterns}: ${step.from} → ${step.to}`);
  const start = now();
  if (step.release?.kind === "update") await apply(jsm, streamsOnly([step.release]), o);
  if (o.interruptAfterSourceUpdate)
    throw new MigrationError(`interrupted after ${step.from} gave up ${patterns} (test hook)`);
  await apply(jsm, streamsOnly([step.take]), o);
  const gapMs = Math.round(now() - start);
  o.write(`✅ ${step.to} owns ${patterns} (publish gap ${gapMs} ms)`);
  return gapMs;
}

/** Creates the target durables that are missing (deliver all); one that exists is left as it is configured. */
async function ensureTargetDurables(jsm: JetStreamManager, plan: MigrationPlan, o: MigrateOptions): Promise<void> {
  const current = await readTopology(jsm);
  const consumers = plan.targetDurables
    .map(({ stream, spec }) => diffConsumer(spec, stream, current))
    .filter((change) => change.kind === "create");
  for (const change of consumers) {
    const { durable, filterSubject } = change.spec;
    o.write(`➕ Create consumer ${durable} on ${change.stream ?? "?"} (filter ${filterSubject}, deliver all)`);
    await apply(jsm, { streams: [], consumers: [change] }, o);
  }
}

/** One publish per moved pattern; its PubAck must name the target stream. */
async function probe(
  jsm: JetStreamManager,
  plan: MigrationPlan,
  o: MigrateOptions,
): Promise<{ subject: string; stream: string }[]> {
  const js = jsm.jetstream();
  const results: { subject: string; stream: string }[] = [];
  for (const move of plan.moves) {
    const subject = probeSubject(move.pattern);
    if (o.dryRun) {
      o.write(`🔎 Probe: publish to ${subject}, expect stream ${move.to}`);
      continue;
    }
    const ack = await js.publish(subject, JSON.stringify({ probe: true, at: new Date().toISOString() }), {
      msgID: `aa-ops-probe:${randomUUID()}`,
      timeout: 5_000,
    });
    if (ack.stream !== move.to)
      throw new MigrationError(`probe on ${subject} landed in ${ack.stream}, expected ${move.to}`);
    o.write(`✅ Probe ${subject} landed in ${ack.stream} (seq ${ack.seq})`);
    results.push({ subject, stream: ack.stream });
  }
  return results;
}

/** Waits until every source durable has nothing pending, showing progress. */
async function drain(jsm: JetStreamManager, plan: MigrationPlan, o: MigrateOptions): Promise<number> {
  const start = now();
  const watched = plan.drains.filter((d) => !o.drainIgnore.includes(d.durable));
  for (const d of plan.drains.filter((w) => o.drainIgnore.includes(w.durable))) {
    o.write(
      `⚠️  Not waiting for ${d.stream}/${d.durable} (--drain-ignore): its messages stay there ` +
        "until the stream's max_age",
    );
  }
  for (;;) {
    const pending = await Promise.all(
      watched.map(async (d) => ({ ...d, pending: await pendingOf(jsm, d.stream, d.durable) })),
    );
    const left = pending.filter((p) => p.pending > 0);
    if (left.length === 0) {
      o.write(`✅ Source durables drained (${watched.map((d) => `${d.stream}/${d.durable}`).join(", ") || "none"})`);
      return Math.round(now() - start);
    }
    o.write(
      `⏳ Draining: ${left.map((p) => `${p.stream}/${p.durable} ${p.pending} pending`).join(", ")} ` +
        `(${Math.round((now() - start) / 1000)} s)`,
    );
    if (o.dryRun) return 0;
    if (now() - start > o.drainTimeoutMs) {
      throw new MigrationError(
        `source durables still have messages after ${Math.round(o.drainTimeoutMs / 1000)} s ` +
          "(the subjects are moved; nothing is lost): " +
          "is normalize-service of this image running? It drains them in either mode. " +
          "Re-run this command to keep waiting; " +
          "do not roll the image back until it reports drained. " +
          "A durable nothing consumes (normalize-oura without Oura) never drains: --drain-ignore <durable>",
      );
    }
    await new Promise((resolve) => setTimeout(resolve, o.pollMs));
  }
}

function alreadyDone(plan: MigrationPlan): boolean {
  return plan.creates.length === 0 && plan.moves.every((m) => m.state === "at_target");
}

/**
 * Moves the topology to `to` (multi: ATHLETE_ALLY_EVENTS → AA_CORE_HOT/AA_VENDOR_HOT;
 * single: the reverse). Resumable: each step starts from what the server shows.
 */
export async function migrate(jsm: JetStreamManager, o: MigrateOptions): Promise<MigrationReport> {
  if (o.forwardUnprocessed && o.to !== "single")
    throw new MigrationError("forwarding unprocessed messages is a rollback step: only with --to single");
  const report: MigrationReport = {
    to: o.to,
    alreadyDone: false,
    moved: [],
    probes: [],
    drainMs: 0,
    unknownConsumers: [],
    ok: false,
  };
  try {
    const plan = planMigration(await readTopology(jsm), o.to, o.names, o.replicas);
    for (const move of plan.moves) o.write(`   ${move.pattern}: ${whereTo(move)}`);
    if (alreadyDone(plan)) {
      report.alreadyDone = true;
      o.write(`✓  Subjects are already on the ${o.to} streams.`);
    } else {
      o.write("── Pre-flight");
      report.unknownConsumers = plan.unknownConsumers;
      checkUnknownConsumers(plan, o);
      const unhealthy = await checkHealth(o.health, o.write);
      if (unhealthy !== undefined) throw new MigrationError(unhealthy);
      await createMissingStreams(jsm, plan, o);
      o.write("── Subject handoff");
      for (const step of plan.handoffs) {
        const gapMs = await handoff(jsm, step, o);
        report.moved.push(...step.moves.map((m) => ({ pattern: m.pattern, from: step.from, to: step.to, gapMs })));
      }
    }
    await ensureTargetDurables(jsm, plan, o);
    if (!report.alreadyDone) {
      o.write("── Probes");
      report.probes = await probe(jsm, plan, o);
    }
    if (o.forwardUnprocessed) {
      o.write(`── Forward unprocessed messages to ${o.names.legacy} (1.0 envelope, same msg id)`);
      const watched = plan.drains.filter((d) => !o.drainIgnore.includes(d.durable));
      report.forwarded = await forwardUnprocessed(jsm, watched, {
        legacyStream: o.names.legacy,
        timeoutMs: o.drainTimeoutMs,
        pollMs: o.pollMs,
        ...(o.interruptForwardAfterCopies !== undefined ? { interruptAfterCopies: o.interruptForwardAfterCopies } : {}),
        dryRun: o.dryRun,
        write: o.write,
      });
      const left = report.forwarded.filter((l) => l.left > 0);
      if (left.length > 0 && !o.dryRun)
        throw new MigrationError(
          `${left.map((l) => `${l.stream}/${l.durable} ${l.left}`).join(", ")} message(s) left on the hot ` +
            "stream (copies already made are kept; nothing is lost): is the new normalize still running? " +
            "Scale it to 0 and re-run this command",
        );
    }
    o.write("── Drain");
    report.drainMs = await drain(jsm, plan, o);
    report.ok = true;
  } catch (error) {
    report.error = errorMessage(error);
    o.write(`❌ ${report.error}`);
  }
  return report;
}

/** Where a subject stands in the plan, for its line: already moved, ownerless, or from → to. */
function whereTo(move: SubjectMove): string {
  if (move.state === "at_target") return `on ${move.to}`;
  if (move.state === "in_gap") return `owned by no stream (interrupted handoff) → ${move.to}`;
  return `${move.from} → ${move.to}`;
}
