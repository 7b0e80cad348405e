import { Subjects } from "@aa/contracts";
import type { CpuPerEvent } from "./cpu.js";
import { hrvBacklog } from "./env.js";
import type { PhaseContext } from "./e2e.js";
import { hrvRawEvent, IdSequence } from "./events.js";
import { publishPipelined } from "./pipelined.js";
import type { BenchService, ServiceRunner } from "./services.js";
import { firstRowAt, hrvProbe, waitCommitted } from "./verify.js";

export interface DrainResult {
  instances: number;
  events: number;
  /** Rows / (first row created → last row committed): the drain rate once normalize is up. */
  eventsPerSec: number;
  /** Process start → first row created. */
  startupSeconds: number;
  /** Process start → last row committed. */
  totalSeconds: number;
  complete: boolean;
  rows: number;
  /** Deliveries beyond one per event during the run (each a second attempt, which the upsert guard makes a no-op). */
  redelivered: number;
  /** Each instance's `normalize_hrv_messages_total{result="success"}`; null when the metric is absent. */
  processedPerInstance: Array<number | null>;
  /** CPU per event from spawning the instances (their startup included) to the last commit. */
  cpu: CpuPerEvent;
}

/**
 * With no normalize running, publishes `backlog` raw HRV events (as ingest would) into
 * `athlete-ally.hrv.raw-received`, then starts `instances` normalize processes on the same
 * durable and times them until every row is committed; stops them afterwards.
 */
export async function drainBacklog(
  ctx: PhaseContext,
  runner: ServiceRunner,
  instances: number,
  phase: string,
  normalizeEnv: Record<string, string> = {},
): Promise<DrainResult> {
  const ids = new IdSequence(phase);
  const events = ctx.sizes.backlog;
  await publishPipelined(ctx.env.js, Subjects.hrvRawReceived.subject, events, ctx.sizes.publishWindow, () => {
    const id = ids.next();
    return { id, data: hrvRawEvent(id) };
  });
  const before = await hrvBacklog(ctx.env);
  if (before.pending !== events || before.ackPending !== 0)
    throw new Error(`backlog not as published: ${JSON.stringify(before)}, expected ${events} pending`);
  const accepted = Array.from({ length: events }, (_, k) => `${phase}:${k + 1}`);
  ctx.ledger.record({ phase, sent: ids.sent, accepted, refused: [], unanswered: 0 });

  // normalize may start consuming before its /health answers: its CPU counts from its birth
  // (startup included, a few µs per event over a full backlog), the others' from here.
  const endCpu = await ctx.cpu.begin({ normalize: [] });
  const spawnedAt = Date.now();
  const services = await Promise.all(
    Array.from({ length: instances }, () => runner.start("normalize", normalizeEnv, phase)),
  );
  try {
    const committed = await waitCommitted(hrvProbe(ctx.env, phase), events, ctx.sizes.drainTimeoutMs);
    const cpu = await endCpu(committed.rows, { normalize: services.map((s) => s.run.process.pid ?? 0) });
    const firstAt = await firstRowAt(ctx.env.db.pool, phase);
    const after = await hrvBacklog(ctx.env);
    return {
      instances,
      events,
      eventsPerSec: committed.rows / (Math.max(committed.at - firstAt, 1) / 1000),
      startupSeconds: (firstAt - spawnedAt) / 1000,
      totalSeconds: (committed.at - spawnedAt) / 1000,
      complete: committed.complete,
      rows: committed.rows,
      redelivered: after.deliveries - before.deliveries - events,
      processedPerInstance: await Promise.all(services.map(successCount)),
      cpu,
    };
  } finally {
    for (const service of services) await runner.stop(service);
  }
}

/** Sum of `normalize_hrv_messages_total{result="success",…}` on an instance's /metrics. */
async function successCount(service: BenchService): Promise<number | null> {
  const text = await (await fetch(`${service.url}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  const lines = text
    .split("\n")
    .filter((l) => l.startsWith("normalize_hrv_messages_total{") && l.includes('result="success"'));
  if (lines.length === 0) return null;
  return lines.reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(" ") + 1)), 0);
}
