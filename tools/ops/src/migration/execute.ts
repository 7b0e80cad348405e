import { randomUUID } from "node:crypto";
import type { JetStreamManager, StreamConfig } from "@nats-io/jetstream";
import { ifExists, readTopology, toConsumerConfig, toStreamConfig, type StreamMode, type TopologyNames } from "@aa/event-bus";
import { errorMessage, type Writer } from "../output.js";
import { parkedSubject, pendingHandoffs, planMigration, probeSubject, type MigrationPlan, type SubjectMove } from "./plan.js";

export interface MigrateOptions {
  to: StreamMode;
  names: TopologyNames;
  replicas: number;
  dryRun: boolean;
  /** `/health` URLs that must answer 200 before anything moves. */
  healthUrls: readonly string[];
  /** Give up waiting for the source durables to drain after this long, in ms. */
  drainTimeoutMs: number;
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
  ok: boolean;
  error?: string;
}

class MigrationError extends Error {}

const now = () => performance.now();

async function pendingOf(jsm: JetStreamManager, stream: string, durable: string): Promise<number> {
  const info = await ifExists(jsm.consumers.info(stream, durable));
  return info ? info.num_pending + info.num_ack_pending : 0;
}

async function checkHealth(urls: readonly string[], write: Writer): Promise<void> {
  for (const url of urls) {
    const response = await fetch(url, { signal: AbortSignal.timeout(5_000) }).catch((error: unknown) => new Error(errorMessage(error)));
    if (response instanceof Error || response.status !== 200) {
      const why = response instanceof Error ? response.message : `HTTP ${response.status}`;
      throw new MigrationError(`${url} is not healthy (${why}); fix the services first, or pass --skip-health-check`);
    }
    write(`✓  ${url} healthy`);
  }
}

/** Creates missing target streams parked (a placeholder subject), so they exist before the handoff. */
async function createMissingStreams(jsm: JetStreamManager, plan: MigrationPlan, o: MigrateOptions): Promise<void> {
  for (const spec of plan.missingStreams) {
    const config = toStreamConfig(spec);
    const parked = plan.moves.some((m) => m.to === spec.name);
    const body = parked ? { ...config, subjects: [parkedSubject(spec.name)] } : config;
    o.write(`➕ Create stream ${spec.name}${parked ? ` parked on ${parkedSubject(spec.name)} until it takes its subjects` : ""}`);
    o.write(`   $JS.API.STREAM.CREATE.${spec.name} ${JSON.stringify(body)}`);
    if (!o.dryRun) await jsm.streams.add(body);
  }
}

function withoutPatterns(config: StreamConfig, patterns: readonly string[]): string[] {
  const left = (config.subjects ?? []).filter((s) => !patterns.includes(s));
  return left.length > 0 ? left : [parkedSubject(config.name)];
}

function withPatterns(config: StreamConfig, patterns: readonly string[]): string[] {
  const kept = (config.subjects ?? []).filter((s) => s !== parkedSubject(config.name) && !patterns.includes(s));
  return [...kept, ...patterns];
}

async function updateSubjects(jsm: JetStreamManager, stream: string, subjects: (config: StreamConfig) => string[], o: MigrateOptions): Promise<void> {
  const config = (await jsm.streams.info(stream).catch(() => undefined))?.config ?? ({ name: stream, subjects: [parkedSubject(stream)] } as StreamConfig);
  const next = subjects(config);
  o.write(`   $JS.API.STREAM.UPDATE.${stream} subjects=${JSON.stringify(next)}`);
  if (!o.dryRun) await jsm.streams.update(stream, { ...config, subjects: next });
}

/**
 * The handoff of one source → target pair: remove the subjects from the source, then at
 * once add them to the target. Publishers see "no responders" in between and retry
 * with the same msg id; nothing else can make the move atomic.
 */
async function handoff(jsm: JetStreamManager, group: { from: string; to: string; moves: SubjectMove[] }, o: MigrateOptions): Promise<number> {
  const patterns = group.moves.map((m) => m.pattern);
  o.write(`🔀 Hand over ${patterns.join(", ")}: ${group.from} → ${group.to}`);
  const start = now();
  if (group.moves.some((m) => m.state === "at_source")) await updateSubjects(jsm, group.from, (c) => withoutPatterns(c, patterns), o);
  if (o.interruptAfterSourceUpdate) throw new MigrationError(`interrupted after ${group.from} gave up ${patterns.join(", ")} (test hook)`);
  await updateSubjects(jsm, group.to, (c) => withPatterns(c, patterns), o);
  const gapMs = Math.round(now() - start);
  o.write(`✅ ${group.to} owns ${patterns.join(", ")} (publish gap ${gapMs} ms)`);
  return gapMs;
}

async function ensureTargetDurables(jsm: JetStreamManager, plan: MigrationPlan, o: MigrateOptions): Promise<void> {
  for (const { stream, spec } of plan.targetDurables) {
    if (await ifExists(jsm.consumers.info(stream, spec.durable))) continue;
    const config = toConsumerConfig(spec);
    o.write(`➕ Create consumer ${spec.durable} on ${stream} (filter ${spec.filterSubject}, deliver all)`);
    o.write(`   $JS.API.CONSUMER.CREATE.${stream}.${spec.durable}.${spec.filterSubject} ${JSON.stringify(config)}`);
    if (!o.dryRun) await jsm.consumers.add(stream, config);
  }
}

/** One publish per moved pattern; its PubAck must name the target stream. */
async function probe(jsm: JetStreamManager, plan: MigrationPlan, o: MigrateOptions): Promise<{ subject: string; stream: string }[]> {
  const js = jsm.jetstream();
  const results: { subject: string; stream: string }[] = [];
  for (const move of plan.moves) {
    const subject = probeSubject(move.pattern);
    if (o.dryRun) {
      o.write(`🔎 Probe: publish to ${subject}, expect stream ${move.to}`);
      continue;
    }
    const ack = await js.publish(subject, JSON.stringify({ probe: true, at: new Date().toISOString() }), { msgID: `aa-ops-probe:${randomUUID()}`, timeout: 5_000 });
    if (ack.stream !== move.to) throw new MigrationError(`probe on ${subject} landed in ${ack.stream}, expected ${move.to}`);
    o.write(`✅ Probe ${subject} landed in ${ack.stream} (seq ${ack.seq})`);
    results.push({ subject, stream: ack.stream });
  }
  return results;
}

/** Waits until every source durable has nothing pending, showing progress. */
async function drain(jsm: JetStreamManager, plan: MigrationPlan, o: MigrateOptions): Promise<number> {
  const start = now();
  for (;;) {
    const pending = await Promise.all(plan.drains.map(async (d) => ({ ...d, pending: await pendingOf(jsm, d.stream, d.durable) })));
    const left = pending.filter((p) => p.pending > 0);
    if (left.length === 0) {
      o.write(`✅ Source durables drained (${plan.drains.map((d) => `${d.stream}/${d.durable}`).join(", ") || "none"})`);
      return Math.round(now() - start);
    }
    o.write(`⏳ Draining: ${left.map((p) => `${p.stream}/${p.durable} ${p.pending} pending`).join(", ")} (${Math.round((now() - start) / 1000)} s)`);
    if (o.dryRun) return 0;
    if (now() - start > o.drainTimeoutMs) {
      throw new MigrationError(`source durables still have messages after ${Math.round(o.drainTimeoutMs / 1000)} s: is normalize-service running? It drains them in either mode. Re-run this command to keep waiting.`);
    }
    await new Promise((resolve) => setTimeout(resolve, o.pollMs));
  }
}

function alreadyDone(plan: MigrationPlan): boolean {
  return plan.missingStreams.length === 0 && plan.moves.every((m) => m.state === "at_target");
}

/**
 * Moves the topology to `to` (multi: ATHLETE_ALLY_EVENTS → AA_CORE_HOT/AA_VENDOR_HOT;
 * single: the reverse). Resumable: each step starts from what the server shows.
 */
export async function migrate(jsm: JetStreamManager, o: MigrateOptions): Promise<MigrationReport> {
  const report: MigrationReport = { to: o.to, alreadyDone: false, moved: [], probes: [], drainMs: 0, ok: false };
  try {
    const plan = planMigration(await readTopology(jsm), o.to, o.names, o.replicas);
    for (const move of plan.moves) o.write(`   ${move.pattern}: ${move.state === "at_target" ? `on ${move.to}` : move.state === "in_gap" ? `owned by no stream (interrupted handoff) → ${move.to}` : `${move.from} → ${move.to}`}`);
    if (alreadyDone(plan)) {
      report.alreadyDone = true;
      o.write(`✓  Subjects are already on the ${o.to} streams.`);
    } else {
      o.write("── Pre-flight");
      await checkHealth(o.healthUrls, o.write);
      await createMissingStreams(jsm, plan, o);
      o.write("── Subject handoff");
      for (const group of pendingHandoffs(plan)) {
        const gapMs = await handoff(jsm, group, o);
        report.moved.push(...group.moves.map((m) => ({ pattern: m.pattern, from: group.from, to: group.to, gapMs })));
      }
    }
    await ensureTargetDurables(jsm, plan, o);
    if (!report.alreadyDone) {
      o.write("── Probes");
      report.probes = await probe(jsm, plan, o);
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

