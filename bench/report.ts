import type { DrainResult } from "./drain.js";
import type { LatencyResult, ThroughputResult } from "./e2e.js";
import type { HeapBurstResult } from "./heap-burst.js";
import { figures } from "./figures.js";
import { fmt, pct, renderTable } from "./format.js";
import type { RawLimits } from "./raw.js";
import type { BenchRun } from "./run-result.js";
import {
  cpuBudgetTable,
  cpuTable,
  medianFigures,
  medianFiguresTable,
  rawCpuTable,
  summaryTable,
  targetsJson,
} from "./summary.js";
import type { PhaseAudit } from "./verify.js";

interface Bound {
  limit: string;
  value: number;
  unit: string;
  /** figure / limit. */
  ratio: number;
}

/** One line of the table: a figure, the raw limits it is bounded by, and its absolute target. */
export interface Comparison {
  figure: string;
  value: number;
  unit: string;
  boundedBy: Bound[];
  target: string;
  met: boolean | null;
}

const bound = (limit: string, limitValue: number, unit: string, value: number): Bound => ({
  limit,
  value: limitValue,
  unit,
  ratio: value / limitValue,
});
const atLeast = (value: number, target: number): boolean => value >= target;
const atMost = (value: number, target: number): boolean => value <= target;

function rawComparisons(raw: RawLimits): Comparison[] {
  const line = (figure: string, value: number, unit: string): Comparison => ({
    figure,
    value,
    unit,
    boundedBy: [],
    target: "",
    met: null,
  });
  return [
    line("raw: JetStream publish, pipelined", raw.jsPublishMsgPerSec, "msg/s"),
    line("raw: JetStream consume + ack", raw.jsConsumeAckMsgPerSec, "msg/s"),
    line("raw: PostgreSQL batched upsert", raw.pgUpsertRowsPerSec, "rows/s"),
    line("raw: bare Fastify POST", raw.fastifyReqPerSec, "req/s"),
  ];
}

function pipelineComparisons(run: BenchRun): Comparison[] {
  const { raw } = run;
  const single = run.single.eventsPerSec;
  const batch = run.batch.eventsPerSec;
  const drainLimits = (value: number) => [
    bound("JetStream consume + ack", raw.jsConsumeAckMsgPerSec, "msg/s", value),
    bound("PostgreSQL upsert", raw.pgUpsertRowsPerSec, "rows/s", value),
  ];
  return [
    {
      figure: "seed design e2e single",
      value: run.seed.eventsPerSec,
      unit: "events/s",
      boundedBy: [bound("bare Fastify POST", raw.fastifyReqPerSec, "req/s", run.seed.eventsPerSec)],
      target: "",
      met: null,
    },
    {
      figure: "e2e single-event POSTs",
      value: single,
      unit: "events/s",
      boundedBy: [
        bound("bare Fastify POST", raw.fastifyReqPerSec, "req/s", single),
        bound("JetStream publish", raw.jsPublishMsgPerSec, "msg/s", single),
      ],
      target: "≥ 10,000/s",
      met: atLeast(single, 10_000),
    },
    {
      figure: "e2e batch POSTs",
      value: batch,
      unit: "events/s",
      boundedBy: [
        bound("JetStream publish", raw.jsPublishMsgPerSec, "msg/s", batch),
        bound("PostgreSQL upsert", raw.pgUpsertRowsPerSec, "rows/s", batch),
      ],
      target: "≥ 25,000/s",
      met: atLeast(batch, 25_000),
    },
    {
      figure: `latency p50 @ ${run.latency.offeredRate}/s`,
      value: run.latency.p50Ms,
      unit: "ms",
      boundedBy: [],
      target: "",
      met: null,
    },
    {
      figure: `latency p99 @ ${run.latency.offeredRate}/s`,
      value: run.latency.p99Ms,
      unit: "ms",
      boundedBy: [],
      target: "≤ 50 ms",
      met: atMost(run.latency.p99Ms, 50),
    },
    {
      figure: `latency max @ ${run.latency.offeredRate}/s`,
      value: run.latency.maxMs,
      unit: "ms",
      boundedBy: [],
      target: "",
      met: null,
    },
    ...latencyDetails(run.latency).map(([figure, value]) => ({
      figure,
      value,
      unit: "ms",
      boundedBy: [],
      target: "",
      met: null,
    })),
    {
      figure: "drain, 1 normalize",
      value: run.drainOne.eventsPerSec,
      unit: "events/s",
      boundedBy: drainLimits(run.drainOne.eventsPerSec),
      target: "≥ 30,000/s",
      met: atLeast(run.drainOne.eventsPerSec, 30_000),
    },
    {
      figure: "drain, 2 normalize",
      value: run.drainTwo.eventsPerSec,
      unit: "events/s",
      boundedBy: [
        ...drainLimits(run.drainTwo.eventsPerSec),
        bound("drain, 1 normalize", run.drainOne.eventsPerSec, "events/s", run.drainTwo.eventsPerSec),
      ],
      target: "≥ 30,000/s",
      met: atLeast(run.drainTwo.eventsPerSec, 30_000),
    },
    {
      figure: "drain, 1 normalize, no announce",
      value: run.drainQuiet.eventsPerSec,
      unit: "events/s",
      boundedBy: [
        ...drainLimits(run.drainQuiet.eventsPerSec),
        bound("drain, 1 normalize", run.drainOne.eventsPerSec, "events/s", run.drainQuiet.eventsPerSec),
      ],
      target: "",
      met: null,
    },
    ...run.tracing.map((t): Comparison => ({
      figure: `e2e single, tracing ${t.mode}`,
      value: t.single.eventsPerSec,
      unit: "events/s",
      boundedBy:
        tracingOff(run) === undefined || t.mode === "off"
          ? []
          : [bound("tracing off", tracingOff(run)!, "events/s", t.single.eventsPerSec)],
      target: "",
      met: null,
    })),
    {
      figure: "peak RSS ingest",
      value: run.peakRssMb.ingest,
      unit: "MB",
      boundedBy: [],
      target: "≤ 300 MB",
      met: atMost(run.peakRssMb.ingest, 300),
    },
    {
      figure: "peak RSS normalize",
      value: run.peakRssMb.normalize,
      unit: "MB",
      boundedBy: [],
      target: "≤ 300 MB",
      met: atMost(run.peakRssMb.normalize, 300),
    },
    {
      figure: "lost (2xx without a row)",
      value: run.audit.lost,
      unit: "events",
      boundedBy: [],
      target: "0",
      met: run.audit.lost === 0,
    },
    {
      figure: "duplicated rows",
      value: run.audit.duplicated,
      unit: "rows",
      boundedBy: [],
      target: "0",
      met: run.audit.duplicated === 0,
    },
  ];
}

const tracingOff = (run: BenchRun): number | undefined =>
  run.tracing.find((t) => t.mode === "off")?.single.eventsPerSec;

/** The warm-up window's p99, and the measured window's p99 hop by hop (each hop's own p99: they need not add up). */
function latencyDetails(latency: LatencyResult): [string, number][] {
  const at = `@ ${latency.offeredRate}/s`;
  return [
    [`latency p99 ${at}, warm-up window just after the saturation runs`, latency.warmup.p99Ms],
    [`  hop p99: capturedAt → received by ingest`, latency.parts.receivedP99Ms],
    [`  hop p99: received → stored in JetStream`, latency.parts.storedP99Ms],
    [`  hop p99: stored → row inserted by normalize`, latency.parts.insertedP99Ms],
  ];
}

/** One run's JSON document. */
function runJson(run: BenchRun) {
  const { quick, audit, ...details } = run;
  return {
    quick,
    figures: figures(run),
    lost: audit.lost,
    duplicated: audit.duplicated,
    comparisons: [...rawComparisons(run.raw), ...pipelineComparisons(run)],
    details: { ...details, audit },
  };
}

/**
 * The JSON document `--json` prints: one run's document plus `targets` and `cpuMicrosPerEvent`;
 * with several runs, `figures` are medians, `lost` and `duplicated` totals, and `runs` each run's document.
 */
export function toJson(runs: readonly BenchRun[]) {
  const [first] = runs;
  if (first === undefined) throw new Error("no run to report");
  const summary = targetsJson(runs);
  if (runs.length === 1) return { ...runJson(first), ...summary };
  return {
    quick: first.quick,
    figures: medianFigures(runs),
    lost: runs.reduce((sum, r) => sum + r.audit.lost, 0),
    duplicated: runs.reduce((sum, r) => sum + r.audit.duplicated, 0),
    ...summary,
    runs: runs.map(runJson),
  };
}

/** One run's figures: a figure per line, one extra line per further raw limit it is bounded by. */
function figuresTable(run: BenchRun): string[] {
  const header = ["figure", "value", "bounded by (raw limit)", "ratio", "absolute target", "met"];
  const rows: string[][] = [];
  for (const c of [...rawComparisons(run.raw), ...pipelineComparisons(run)]) {
    const met = c.met === null ? "" : c.met ? "yes" : "NO";
    const [first, ...rest] = c.boundedBy;
    rows.push([
      c.figure,
      fmt(c.value, c.unit),
      first ? `${first.limit} ${fmt(first.value, first.unit)}` : "",
      first ? pct(first.ratio) : "",
      c.target,
      met,
    ]);
    for (const b of rest) rows.push(["", "", `${b.limit} ${fmt(b.value, b.unit)}`, pct(b.ratio), "", ""]);
  }
  return renderTable(header, rows, new Set([1]));
}

/**
 * The text report: the targets against same-run limits (medians when several runs), CPU per event per component,
 * then one run's figures table and notes, or with several runs each figure's median and per-run values.
 */
export function toTable(runs: readonly BenchRun[]): string {
  const [first] = runs;
  if (first === undefined) throw new Error("no run to report");
  const details =
    runs.length === 1
      ? [...figuresTable(first), "", ...notes(first)]
      : [...medianFiguresTable(runs), "", ...runs.flatMap(runNotes)];
  return [
    ...summaryTable(runs),
    "",
    ...cpuBudgetTable(runs),
    "",
    ...rawCpuTable(runs),
    "",
    ...cpuTable(runs),
    "",
    ...details,
  ].join("\n");
}

/** The notes of one of several runs, headed by its number. */
function runNotes(run: BenchRun, index: number): string[] {
  return [`run ${index + 1}:`, ...notes(run).map((line) => `  ${line}`), ""];
}

function notes(run: BenchRun): string[] {
  const batch = `batch: ${describe(run.batch)}`;
  const drain = (d: DrainResult) =>
    `${d.rows}/${d.events} rows, startup ${d.startupSeconds.toFixed(1)} s, ` +
    `total ${d.totalSeconds.toFixed(1)} s, redelivered ${d.redelivered}, ` +
    `processed per instance ${d.processedPerInstance.join(" + ")}`;
  const postgres =
    run.postgres === "private"
      ? "private cluster (fsync on)"
      : "BENCH_DATABASE_URL's server: its CPU figure includes other load";
  return [
    `machine: ${run.machine.cpus} CPUs, Node ${run.machine.node}, load average ` +
      `${run.machine.loadAverageAtStart.toFixed(2)} when the run began (${run.machine.startedAt})` +
      `${run.quick ? "; quick run (small counts)" : ""}`,
    `postgres: ${postgres}; raw publish window 256`,
    `seed: ${describe(run.seed)}, lost ${run.seed.lost}`,
    `single: ${describe(run.single)}`,
    batch,
    `latency: ${run.latency.rows} rows${run.latency.complete ? "" : " (INCOMPLETE)"}, ` +
      `offered ${run.latency.offeredRate}/s, answered ${run.latency.answeredRate.toFixed(0)}/s, ` +
      `statuses ${JSON.stringify(run.latency.statuses)}; warm-up ${run.latency.warmup.rows} rows first, ` +
      `hops read back for ${run.latency.parts.events} events`,
    `drain 1: ${drain(run.drainOne)}`,
    `drain 2: ${drain(run.drainTwo)}`,
    `drain 1, ANNOUNCE_STORED=false: ${drain(run.drainQuiet)}`,
    ...run.tracing.map(
      (t) =>
        `tracing ${t.mode}: ${describe(t.single)}; OTLP export ${t.exportRequests} requests, ` +
        `${(t.exportBytes / 1e6).toFixed(1)} MB`,
    ),
    heapBurstNote(run.heapBurst),
    `audit: ${run.audit.phases.map(auditLine).join("; ")}; rows never sent ${run.audit.unsentRows}, ` +
      `event ids stored twice ${run.audit.duplicateEventIds}, DLQ messages ${run.dlqMessages}`,
    `RSS (VmHWM per process): ${run.rss.map((s) => `${s.service}[${s.pid}] ${s.peakMb.toFixed(0)} MB`).join(", ")}`,
  ];
}

function heapBurstNote(b: HeapBurstResult): string {
  const reasons = Object.entries(b.rejectedByReason)
    .filter(([, n]) => n > 0)
    .map(([reason, n]) => `${reason} ${n}`);
  return (
    `heap burst (NODE_OPTIONS=${b.deployed.nodeOptions}): ${b.waves} waves of ${b.perWave} batches of 2 MiB, ` +
    `${b.accepted} accepted (202), ${b.shed} shed (503 + Retry-After), ${b.otherAnswers} other answers; ` +
    `rejected by reason: ${reasons.join(", ") || "none"}; ` +
    `${b.alive ? "alive" : "NOT ALIVE"} after it, peak RSS ${b.peakRssMb.toFixed(0)} MiB, ` +
    `rows ${b.rows}${b.complete ? "" : " (INCOMPLETE)"}`
  );
}

function auditLine(p: PhaseAudit): string {
  const refused = p.refused > 0 ? `, refused ${p.refused} (${p.storedRefused} stored)` : "";
  const unanswered = p.unanswered > 0 ? `, cut off ${p.unanswered} (${p.storedUnanswered} stored)` : "";
  return `${p.phase} accepted ${p.accepted}${refused}${unanswered}, rows ${p.rows}, lost ${p.lost}`;
}

function describe(r: ThroughputResult): string {
  return (
    `${r.requests} responses ${JSON.stringify(r.statuses)}, ${r.errors} errors, ` +
    `accepted ${r.accepted} (${r.acceptedPerSec.toFixed(0)}/s over ${r.loadSeconds.toFixed(1)} s), ` +
    `rows ${r.rows} after ${r.totalSeconds.toFixed(1)} s${r.complete ? "" : " (INCOMPLETE)"}`
  );
}
