import type { CpuPerEvent } from "./cpu.js";
import type { DrainResult } from "./drain.js";
import type { LatencyResult, ThroughputResult } from "./e2e.js";
import type { HeapBurstResult } from "./heap-burst.js";
import type { RawLimits } from "./raw.js";
import type { SeedResult } from "./seed.js";
import type { RssSample } from "./services.js";
import type { TracingResult } from "./tracing.js";
import type { Audit } from "./verify.js";

/** Everything one run measured. */
export interface BenchRun {
  quick: boolean;
  /** Readings per request of the batch runs (the e2e batch and the bare Fastify batch). */
  batchItems: number;
  /**
   * Other work on the machine skews every figure: the 1-minute load average when the bench began. `node`: the
   * release the bench and the services it starts ran on (process.execPath).
   */
  machine: { cpus: number; loadAverageAtStart: number; startedAt: string; node: string };
  /** A private cluster (its CPU is the bench's alone) or BENCH_DATABASE_URL's server (all postgres processes). */
  postgres: "private" | "shared";
  raw: RawLimits;
  /** The seed design (bench/seed-app.ts) under the single-event load. */
  seed: SeedResult;
  single: ThroughputResult;
  batch: ThroughputResult;
  latency: LatencyResult;
  drainOne: DrainResult;
  drainTwo: DrainResult;
  /** One normalize with ANNOUNCE_STORED=false: the drain without the per-event announcement. */
  drainQuiet: DrainResult;
  /** e2e single-event POSTs with tracing off, without an endpoint (no SDK), exporting to a local sink. */
  tracing: TracingResult[];
  /** ingest as deployed (160 MB of old space) under waves of concurrent 2 MiB batches. */
  heapBurst: HeapBurstResult;
  rss: RssSample[];
  peakRssMb: { ingest: number; normalize: number };
  audit: Audit;
  dlqMessages: number;
  /** CPU per committed event of each component, per phase. */
  cpu: { single: CpuPerEvent; batch: CpuPerEvent; drainOne: CpuPerEvent; drainQuiet: CpuPerEvent };
}
