import { pathCpu, total } from "./cpu-budget.js";
import { CPU_COMPONENTS, type CpuComponent, type CpuPerEvent } from "./cpu.js";
import { heapBurstFailures } from "./heap-burst.js";
import type { BenchRun } from "./run-result.js";

/**
 * How a target is judged: a ratio to its same-run limit at least so much (a rate against a ceiling) or at most so much
 * (a cost against a floor), or a value at most so much. A `context` row is printed with its ratio and not judged.
 */
type Goal =
  | { kind: "ratio"; atLeast: number }
  | { kind: "costRatio"; atMost: number }
  | { kind: "value"; atMost: number }
  | { kind: "context" };

/** One target (most are a ratio to a limit measured in the same run), as one run measured it. */
export interface TargetCheck {
  figure: string;
  value: number;
  unit: string;
  /** The same-run limit the figure is divided by; absent for absolute targets. */
  limit?: { name: string; value: number; unit: string };
  ratio: number | null;
  target: string;
  goal: Goal;
}

const ratioTarget = (
  figure: string,
  value: number,
  unit: string,
  limit: { name: string; value: number; unit: string },
  atLeast: number,
  target: string,
): TargetCheck => ({
  figure,
  value,
  unit,
  limit,
  ratio: value / limit.value,
  target,
  goal: { kind: "ratio", atLeast },
});

const valueTarget = (figure: string, value: number, unit: string, atMost: number, target: string): TargetCheck => ({
  figure,
  value,
  unit,
  ratio: null,
  target,
  goal: { kind: "value", atMost },
});

/** CPU per stored event of each path against the same run's raw sum of its parts. */
const cpuTargets = (run: BenchRun): TargetCheck[] =>
  pathCpu(run).map((path) => {
    const value = total(path.pipeline);
    const raw = total(path.raw);
    return {
      figure: `CPU per event, ${path.label}`,
      value,
      unit: "µs",
      limit: { name: "raw sum", value: raw, unit: "µs" },
      ratio: value / raw,
      target: `≤ ${path.atMost.toFixed(1)}×`,
      goal: { kind: "costRatio", atMost: path.atMost },
    };
  });

/**
 * Throughput of the co-located pipeline against one component running alone. On two shared cores that ratio is capped
 * by what the other components cost, so the CPU-per-event rows judge the pipeline; these stay as context.
 */
const context = (check: TargetCheck): TargetCheck => ({
  ...check,
  target: `(was ${check.target})`,
  goal: { kind: "context" },
});

/** The targets, each with its same-run limit. */
export function targetChecks(run: BenchRun): TargetCheck[] {
  const publish = { name: "raw JetStream publish, window 256", value: run.raw.jsPublishMsgPerSec, unit: "msg/s" };
  return [
    ...cpuTargets(run),
    ratioTarget(
      "e2e single-event POSTs",
      run.single.eventsPerSec,
      "events/s",
      { name: "seed design e2e single", value: run.seed.eventsPerSec, unit: "events/s" },
      3,
      "≥ 3×",
    ),
    valueTarget(`p99 capturedAt → committed @ ${run.latency.offeredRate}/s`, run.latency.p99Ms, "ms", 25, "≤ 25 ms"),
    valueTarget("peak RSS ingest", run.peakRssMb.ingest, "MB", 300, "≤ 300 MB"),
    valueTarget("peak RSS normalize", run.peakRssMb.normalize, "MB", 300, "≤ 300 MB"),
    valueTarget(
      "heap burst: ingest exited, nothing shed, an answer not 202 or 503 + Retry-After, or accepted not stored",
      heapBurstFailures(run.heapBurst),
      "failures",
      0,
      "0",
    ),
    valueTarget(
      "heap burst: peak RSS ingest",
      run.heapBurst.peakRssMb,
      "MiB",
      run.heapBurst.deployed.memoryLimitMib,
      `≤ ${run.heapBurst.deployed.memoryLimitMib} MiB (its memory limit)`,
    ),
    valueTarget("lost (2xx without a row)", run.audit.lost, "events", 0, "0"),
    valueTarget("duplicated rows", run.audit.duplicated, "rows", 0, "0"),
    context(
      ratioTarget(
        "ingest accept rate, single, pipeline running",
        run.single.acceptedPerSec,
        "req/s",
        { name: "bare Fastify POST", value: run.raw.fastifyReqPerSec, unit: "req/s" },
        0.5,
        "≥ 50%",
      ),
    ),
    context(ratioTarget("e2e batch POSTs", run.batch.eventsPerSec, "events/s", publish, 0.7, "≥ 70%")),
    context(
      ratioTarget(
        "drain, 1 normalize, no announce",
        run.drainQuiet.eventsPerSec,
        "events/s",
        { name: "raw JetStream consume + ack", value: run.raw.jsConsumeAckMsgPerSec, unit: "msg/s" },
        0.7,
        "≥ 70%",
      ),
    ),
    context(
      ratioTarget("drain, 1 normalize, announcing", run.drainOne.eventsPerSec, "events/s", publish, 0.85, "≥ 85%"),
    ),
  ];
}

export const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? NaN) : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2;
};

/** A target over several runs: each run's value and ratio, their medians, and whether the medians meet it. */
export interface TargetSummary {
  figure: string;
  unit: string;
  target: string;
  values: number[];
  limitName?: string;
  limitUnit?: string;
  limits: number[];
  ratios: number[];
  medianValue: number;
  medianLimit: number | null;
  /** The median of the per-run ratios (each run's figure over that run's limit). */
  medianRatio: number | null;
  /** null for a context row, which is not judged. */
  met: boolean | null;
}

function meets(goal: Goal, value: number, ratio: number | null): boolean | null {
  if (goal.kind === "context") return null;
  if (goal.kind === "value") return value <= goal.atMost;
  if (ratio === null) return false;
  return goal.kind === "ratio" ? ratio >= goal.atLeast : ratio <= goal.atMost;
}

/** The targets over `runs`: judged on the median ratio (or the median value for absolute targets). */
export function summarizeTargets(runs: readonly BenchRun[]): TargetSummary[] {
  const perRun = runs.map(targetChecks);
  return (perRun[0] ?? []).map((first, i) => {
    const checks = perRun.map((checks) => checks[i] ?? first);
    const values = checks.map((c) => c.value);
    const limits = checks.flatMap((c) => (c.limit ? [c.limit.value] : []));
    const ratios = checks.flatMap((c) => (c.ratio === null ? [] : [c.ratio]));
    const medianValue = median(values);
    const medianRatio = ratios.length > 0 ? median(ratios) : null;
    return {
      figure: first.figure,
      unit: first.unit,
      target: first.target,
      values,
      ...(first.limit ? { limitName: first.limit.name, limitUnit: first.limit.unit } : {}),
      limits,
      ratios,
      medianValue,
      medianLimit: limits.length > 0 ? median(limits) : null,
      medianRatio,
      met: meets(first.goal, medianValue, medianRatio),
    };
  });
}

export type CpuPhase = keyof BenchRun["cpu"];
export const CPU_PHASES: Record<CpuPhase, string> = {
  single: "e2e single",
  batch: "e2e batch",
  drainOne: "drain, 1 normalize",
  drainQuiet: "drain, no announce",
};

/** µs of CPU per event per phase and component, the median over runs. */
export function medianCpu(runs: readonly BenchRun[]): Record<CpuPhase, Record<CpuComponent, number>> {
  const phases = Object.keys(CPU_PHASES) as CpuPhase[];
  const perComponent = (phase: CpuPhase) =>
    Object.fromEntries(
      CPU_COMPONENTS.map((c) => [c, median(runs.map((r) => (r.cpu[phase] as CpuPerEvent).micros[c]))]),
    ) as Record<CpuComponent, number>;
  return Object.fromEntries(phases.map((p) => [p, perComponent(p)])) as Record<CpuPhase, Record<CpuComponent, number>>;
}
