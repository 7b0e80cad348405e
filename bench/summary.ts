import { CPU_PATHS, pathCpu, PIPELINE_PROCESSES, total, type PathCpu, type ProcessMicros } from "./cpu-budget.js";
import { CPU_COMPONENTS } from "./cpu.js";
import { RAW_CLIENT, RAW_PARTS, type RawCpu } from "./raw.js";
import { figures } from "./figures.js";
import { fmt, pct, renderTable } from "./format.js";
import type { BenchRun } from "./run-result.js";
import { CPU_PHASES, median, medianCpu, summarizeTargets, type CpuPhase, type TargetSummary } from "./targets.js";

/** "3.41×" for a multiple target, "73%" for a share. */
const ratioText = (t: TargetSummary, ratio: number): string =>
  t.target.includes("×") ? `${ratio.toFixed(2)}×` : pct(ratio);

/** Each run's ratio (or value, for absolute targets), as "a / b / c". */
const perRun = (t: TargetSummary): string =>
  t.medianRatio === null
    ? t.values.map((v) => fmt(v, t.unit)).join(" / ")
    : t.ratios.map((r) => ratioText(t, r)).join(" / ");

/** The targets: figure, same-run limit, ratio, target, PASS/MISS; medians and each run's when several. */
export function summaryTable(runs: readonly BenchRun[]): string[] {
  const several = runs.length > 1;
  const header = [
    several ? `target figure (median of ${runs.length} runs)` : "target figure",
    "value",
    "same-run limit",
    "ratio",
    "target",
    "result",
    ...(several ? ["each run"] : []),
  ];
  const rows = summarizeTargets(runs).map((t) => [
    t.figure,
    fmt(t.medianValue, t.unit),
    t.medianLimit === null ? "" : `${t.limitName} ${fmt(t.medianLimit, t.limitUnit ?? "")}`,
    t.medianRatio === null ? "" : ratioText(t, t.medianRatio),
    t.target,
    t.met === null ? "–" : t.met ? "PASS" : "MISS",
    ...(several ? [perRun(t)] : []),
  ]);
  const note = [
    "(was …): throughput against one component running alone, capped on shared cores by the other components' CPU; " +
      "context, not judged",
    ...(several ? ["ratios are each run's figure over that run's limit; the ratio shown is their median"] : []),
  ];
  return [...renderTable(header, rows, new Set([1, 3])), ...note];
}

/** µs of CPU per committed event, per phase and component (medians over runs). */
export function cpuTable(runs: readonly BenchRun[]): string[] {
  const cpu = medianCpu(runs);
  const services = ["ingest", "normalize", "nats-server", "postgres"] as const;
  const header = [runs.length > 1 ? "CPU µs/event (median)" : "CPU µs/event", ...services, "sum", "bench (load)"];
  const rows = (Object.keys(CPU_PHASES) as CpuPhase[]).map((phase) => {
    const micros = cpu[phase];
    const sum = services.reduce((a, c) => a + micros[c], 0);
    return [CPU_PHASES[phase], ...services.map((c) => micros[c].toFixed(0)), sum.toFixed(0), micros.bench.toFixed(0)];
  });
  const scope =
    runs[0]?.postgres === "private"
      ? "postgres: the bench's private cluster (postmaster and its children)"
      : "postgres: every postgres process on the machine (BENCH_DATABASE_URL): includes other load";
  return [...renderTable(header, rows, new Set([1, 2, 3, 4, 5, 6])), scope];
}

/**
 * Per path: the pipeline's CPU per stored event, the raw sum of the same work and their ratio, per process and in all;
 * each cell the median over runs of its own per-run value.
 */
export function cpuBudgetTable(runs: readonly BenchRun[]): string[] {
  const perRun = runs.map(pathCpu);
  const header = [
    runs.length > 1 ? "CPU µs per stored event (median)" : "CPU µs per stored event",
    ...PIPELINE_PROCESSES,
    "all",
  ];
  const rows = CPU_PATHS.flatMap((_, i) => {
    const paths = perRun.map((run) => run[i]!);
    const med = (of: (p: PathCpu) => number) => median(paths.map(of));
    const micros = (what: (p: PathCpu) => ProcessMicros) => [
      ...PIPELINE_PROCESSES.map((proc) => med((p) => what(p)[proc]).toFixed(0)),
      med((p) => total(what(p))).toFixed(0),
    ];
    const ratio = (of: (m: ProcessMicros) => number) => {
      if (paths.some((p) => of(p.raw) === 0)) return "–";
      return `${med((p) => of(p.pipeline) / of(p.raw)).toFixed(2)}×`;
    };
    return [
      [`${paths[0]!.label}: pipeline`, ...micros((p) => p.pipeline)],
      ["  raw sum of its parts", ...micros((p) => p.raw)],
      ["  pipeline / raw", ...PIPELINE_PROCESSES.map((proc) => ratio((m) => m[proc])), ratio(total)],
    ];
  });
  return renderTable(header, rows, new Set([1, 2, 3, 4, 5]));
}

/** The raw parts' CPU per unit of work, per process (medians over runs). */
export function rawCpuTable(runs: readonly BenchRun[]): string[] {
  const parts = Object.keys(RAW_PARTS) as (keyof RawCpu)[];
  const header = ["raw part, CPU µs per unit", "client", "nats-server", "postgres", "all"];
  const rows = parts.map((part) => {
    const med = (c: "bench" | "ingest" | "nats-server" | "postgres") =>
      median(runs.map((r) => r.raw.cpu[part].micros[c]));
    const client = med(RAW_CLIENT[part]);
    const cells = [client, med("nats-server"), med("postgres")];
    return [RAW_PARTS[part], ...cells.map((v) => v.toFixed(1)), cells.reduce((a, b) => a + b, 0).toFixed(1)];
  });
  return [
    ...renderTable(header, rows, new Set([1, 2, 3, 4])),
    "client: the bench process for JetStream and PostgreSQL, the bare Fastify app for HTTP " +
      "(its load generator not counted)",
  ];
}

/** Each figure's median over the runs. */
export function medianFigures(runs: readonly BenchRun[]): Record<string, number> {
  const all = runs.map(figures);
  return Object.fromEntries(Object.keys(all[0] ?? {}).map((key) => [key, median(all.map((f) => f[key] ?? NaN))]));
}

/** What `--json` adds: the targets (per run and median) and CPU per event per component. */
export function targetsJson(runs: readonly BenchRun[]) {
  const cpu = medianCpu(runs);
  return {
    targets: summarizeTargets(runs),
    /** Per run, per path: the pipeline's CPU per stored event and the raw sum of its parts, per process. */
    cpuBudget: runs.map(pathCpu),
    cpuMicrosPerEvent: cpu,
    cpuComponents: CPU_COMPONENTS,
  };
}

/** Every figure: its median over the runs and each run's value. */
export function medianFiguresTable(runs: readonly BenchRun[]): string[] {
  const all = runs.map(figures);
  const medians = medianFigures(runs);
  const number = (v: number) => v.toLocaleString("en-US", { maximumFractionDigits: v < 100 ? 1 : 0 });
  const rows = Object.entries(medians).map(([key, m]) => [
    key,
    number(m),
    all.map((f) => number(f[key] ?? NaN)).join(" / "),
  ]);
  return renderTable([`figure (median of ${runs.length} runs)`, "median", "each run"], rows, new Set([1]));
}
