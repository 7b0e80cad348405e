import type { BenchEnv } from "./env.js";
import { hrvReadingJson, IdSequence } from "./events.js";
import { acceptedBatch, acceptedSingle, runLoad, runPaced, type LoadOutcome, type LoadSpec } from "./load.js";
import type { BenchSizes } from "./options.js";
import type { CpuProbe } from "./cpu.js";
import {
  hrvProbe,
  latencyParts,
  latencyStats,
  waitCommitted,
  type Committed,
  type LatencyParts,
  type LatencyStats,
  type Ledger,
} from "./verify.js";

export interface PhaseContext {
  env: BenchEnv;
  sizes: BenchSizes;
  ingestUrl: string;
  /** ingest's credential: the bench runs it as production does, with API-key authentication. */
  headers: Record<string, string>;
  ledger: Ledger;
  /** Samples the pipeline's processes' CPU time around a phase. */
  cpu: CpuProbe;
}

/** One end-to-end run: HTTP → JetStream → normalize → row committed. */
export interface ThroughputResult {
  /** Rows committed / (first request → last row committed). */
  eventsPerSec: number;
  /** Events answered 2xx / load duration: what ingest took in. */
  acceptedPerSec: number;
  requests: number;
  statuses: Record<string, number>;
  errors: number;
  accepted: number;
  rows: number;
  /** Every accepted event was committed before the timeout. */
  complete: boolean;
  loadSeconds: number;
  totalSeconds: number;
}

export interface LatencyResult extends LatencyStats {
  /** Every accepted event was committed before the timeout (the stats cover the rows there are). */
  complete: boolean;
  offeredRate: number;
  /** Requests answered per second: whether the offered rate was held. */
  answeredRate: number;
  statuses: Record<string, number>;
  /** The same rate for `latencyWarmupSeconds` just before: the first seconds after the saturation runs. */
  warmup: LatencyStats;
  /** Where the measured window's tail comes from, hop by hop. */
  parts: LatencyParts;
}

/** Single-reading POSTs at saturation, one event per request. */
export async function e2eSingle(ctx: PhaseContext, phase = "single"): Promise<ThroughputResult> {
  const ids = new IdSequence(phase);
  const load = await runLoad(singleLoad(ctx.sizes, ctx.ingestUrl, ids, ctx.headers));
  return await settle(ctx, ids, load);
}

/**
 * The single-event load: every run of it (pipeline, bare Fastify, seed design) uses the same
 * generator, connections and bodies, so their ratios compare the servers, not the load.
 */
export function singleLoad(
  sizes: BenchSizes,
  url: string,
  ids: IdSequence,
  headers?: Record<string, string>,
  seconds = sizes.singleSeconds,
): LoadSpec {
  return {
    url,
    path: "/ingest/hrv",
    ...(headers === undefined ? {} : { headers }),
    seconds,
    connections: sizes.singleConnections,
    maxRequests: sizes.maxRequests,
    next: () => {
      const id = ids.next();
      return { body: hrvReadingJson(id), ids: [id] };
    },
    accepted: acceptedSingle,
  };
}

/** Batch POSTs of `batchItems` readings at saturation. */
export async function e2eBatch(ctx: PhaseContext): Promise<ThroughputResult> {
  const ids = new IdSequence("batch");
  const load = await runLoad(batchLoad(ctx.sizes, ctx.ingestUrl, ids, ctx.headers));
  return await settle(ctx, ids, load);
}

/** The batch load: `batchItems` readings per request; the bare Fastify app gets the same. */
export function batchLoad(
  sizes: BenchSizes,
  url: string,
  ids: IdSequence,
  headers?: Record<string, string>,
  seconds = sizes.batchSeconds,
): LoadSpec {
  return {
    url,
    path: "/ingest/hrv/batch",
    ...(headers === undefined ? {} : { headers }),
    seconds,
    connections: sizes.batchConnections,
    maxRequests: Math.ceil(sizes.maxRequests / sizes.batchItems),
    next: () => {
      const batch = Array.from({ length: sizes.batchItems }, () => ids.next());
      return { body: `{"items":[${batch.map((id) => hrvReadingJson(id)).join(",")}]}`, ids: batch };
    },
    accepted: acceptedBatch,
  };
}

/**
 * capturedAt (the send time) → row created, at a fixed offered rate spread evenly over each
 * second. A warm-up window at the same rate comes first and is reported on its own: right after
 * the saturation runs the services are still collecting those runs' garbage (their scavenges
 * took about twice as long in total), which is not the steady rate the figure describes.
 */
export async function e2eLatency(ctx: PhaseContext): Promise<LatencyResult> {
  const warmup = await pacedWindow(ctx, "latency-warmup", ctx.sizes.latencyWarmupSeconds);
  const measured = await pacedWindow(ctx, "latency", ctx.sizes.latencySeconds);
  return {
    ...measured.stats,
    complete: measured.complete && warmup.complete,
    offeredRate: ctx.sizes.latencyRate,
    answeredRate: measured.load.responses / ctx.sizes.latencySeconds,
    statuses: measured.load.statuses,
    warmup: warmup.stats,
    parts: await latencyParts(ctx.env, "latency", measured.load.startedAt),
  };
}

async function pacedWindow(ctx: PhaseContext, phase: string, seconds: number) {
  const ids = new IdSequence(phase);
  const rate = ctx.sizes.latencyRate;
  const load = await runPaced(
    {
      url: ctx.ingestUrl,
      path: "/ingest/hrv",
      headers: ctx.headers,
      seconds,
      connections: 100,
      overallRate: rate,
      maxRequests: rate * seconds,
      next: () => {
        const id = ids.next();
        return { body: hrvReadingJson(id, new Date().toISOString()), ids: [id] };
      },
      accepted: acceptedSingle,
    },
    10,
  );
  const { complete } = await settle(ctx, ids, load);
  return { load, complete, stats: await latencyStats(ctx.env.db.pool, phase) };
}

/** Records the run in the ledger, waits for its rows, and derives its rates. */
async function settle(ctx: PhaseContext, ids: IdSequence, load: LoadOutcome): Promise<ThroughputResult> {
  ctx.ledger.record({
    phase: ids.phase,
    sent: ids.sent,
    accepted: load.accepted,
    refused: load.refused,
    unanswered: ids.sent - load.answeredEvents,
  });
  const committed = await waitCommitted(hrvProbe(ctx.env, ids.phase), load.accepted.length, ctx.sizes.drainTimeoutMs);
  return throughput(load, committed);
}

/** The rates of a load whose accepted events were committed as `committed` says. */
export function throughput(load: LoadOutcome, committed: Committed): ThroughputResult {
  const totalSeconds = (committed.at - load.startedAt) / 1000;
  return {
    eventsPerSec: committed.rows / totalSeconds,
    acceptedPerSec: load.accepted.length / load.seconds,
    requests: load.responses,
    statuses: load.statuses,
    errors: load.errors,
    accepted: load.accepted.length,
    rows: committed.rows,
    complete: committed.complete,
    loadSeconds: load.seconds,
    totalSeconds,
  };
}
