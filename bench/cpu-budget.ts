import type { CpuPerEvent } from "./cpu.js";
import { RAW_CLIENT, type RawCpu } from "./raw.js";
import type { BenchRun } from "./run-result.js";

/** The pipeline's processes, in the order the tables print them; the load generator is none of them. */
export const PIPELINE_PROCESSES = ["ingest", "normalize", "nats-server", "postgres"] as const;
export type PipelineProcess = (typeof PIPELINE_PROCESSES)[number];
export type ProcessMicros = Record<PipelineProcess, number>;

/** One raw part of a path's work per stored event, and which service does its client (or HTTP) side. */
interface PartUse {
  part: keyof RawCpu;
  by: "ingest" | "normalize";
}

/** An end-to-end path: the phase whose CPU per event is measured, and the raw parts the same work is made of. */
export interface CpuPath {
  label: (run: BenchRun) => string;
  phase: keyof BenchRun["cpu"];
  parts: PartUse[];
  /** The pipeline may cost at most this multiple of the raw sum. */
  atMost: number;
}

// What normalize does per event, each part at its raw cost: take the message and ack it, upsert the row, and publish
// its normalized-stored announcement (on by default).
const STORE: PartUse[] = [
  { part: "consumeAck", by: "normalize" },
  { part: "upsert", by: "normalize" },
  { part: "publish", by: "normalize" },
];

export const CPU_PATHS: CpuPath[] = [
  {
    label: () => "single POST, end to end",
    phase: "single",
    parts: [{ part: "fastifySingle", by: "ingest" }, { part: "publish", by: "ingest" }, ...STORE],
    atMost: 2,
  },
  {
    label: (run) => `batch of ${run.batchItems}, end to end`,
    phase: "batch",
    parts: [{ part: "fastifyBatch", by: "ingest" }, { part: "publish", by: "ingest" }, ...STORE],
    atMost: 1.5,
  },
  { label: () => "backlog drain with announcements", phase: "drainOne", parts: STORE, atMost: 1.5 },
];

const zero = (): ProcessMicros => ({ ingest: 0, normalize: 0, "nats-server": 0, postgres: 0 });
export const total = (m: ProcessMicros): number => PIPELINE_PROCESSES.reduce((sum, p) => sum + m[p], 0);

/** The pipeline's CPU per stored event in a phase, per process (the bench's load generator left out). */
export const pipelineMicros = (cpu: CpuPerEvent): ProcessMicros => ({
  ingest: cpu.micros.ingest,
  normalize: cpu.micros.normalize,
  "nats-server": cpu.micros["nats-server"],
  postgres: cpu.micros.postgres,
});

/** The raw sum of a path per stored event, per process: each part's client side to the service that does it. */
export function rawSumMicros(raw: RawCpu, path: CpuPath): ProcessMicros {
  const sum = zero();
  for (const { part, by } of path.parts) {
    const { micros } = raw[part];
    sum[by] += micros[RAW_CLIENT[part]];
    sum["nats-server"] += micros["nats-server"];
    sum.postgres += micros.postgres;
  }
  return sum;
}

/** One path of one run: the pipeline's CPU per event and the raw sum, per process and in all. */
export interface PathCpu {
  label: string;
  atMost: number;
  pipeline: ProcessMicros;
  raw: ProcessMicros;
}

export const pathCpu = (run: BenchRun): PathCpu[] =>
  CPU_PATHS.map((path) => ({
    label: path.label(run),
    atMost: path.atMost,
    pipeline: pipelineMicros(run.cpu[path.phase]),
    raw: rawSumMicros(run.raw.cpu, path),
  }));
