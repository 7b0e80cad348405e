import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { promisify } from "node:util";
import { testDatabaseUrl } from "./helpers/postgres.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const run = promisify(execFile);

const FIGURES = [
  "jsPublishMsgPerSec",
  "jsConsumeAckMsgPerSec",
  "pgUpsertRowsPerSec",
  "fastifyReqPerSec",
  "seedE2eEventsPerSec",
  "seedAcceptedPerSec",
  "e2eSingleEventsPerSec",
  "e2eSingleAcceptedPerSec",
  "e2eBatchEventsPerSec",
  "latencyP50Ms",
  "latencyP99Ms",
  "latencyMaxMs",
  "latencyWarmupP99Ms",
  "latencyP99HopIngestMs",
  "latencyP99HopStreamMs",
  "latencyP99HopRowMs",
  "drainOneEventsPerSec",
  "drainTwoEventsPerSec",
  "drainQuietEventsPerSec",
  "e2eSingleTracingOffEventsPerSec",
  "e2eSingleTracingNoEndpointEventsPerSec",
  "e2eSingleTracingExportingEventsPerSec",
  "ingestPeakRssMb",
  "normalizePeakRssMb",
  "heapBurstShedBatches",
  "heapBurstIngestPeakRssMb",
];

const TARGETS = [
  "CPU per event, single POST, end to end",
  "CPU per event, batch of 100, end to end",
  "CPU per event, backlog drain with announcements",
  "e2e single-event POSTs",
  "p99 capturedAt → committed",
  "peak RSS ingest",
  "peak RSS normalize",
  "heap burst: ingest exited, nothing shed, an answer not 202 or 503 + Retry-After, or accepted not stored",
  "heap burst: peak RSS ingest",
  "lost (2xx without a row)",
  "duplicated rows",
  // Context, not judged: throughput against one component running alone.
  "ingest accept rate, single, pipeline running",
  "e2e batch POSTs",
  "drain, 1 normalize, no announce",
  "drain, 1 normalize, announcing",
];

test("bench --quick measures every figure and loses or duplicates nothing", { timeout: 200_000 }, async () => {
  await run("npm", ["run", "build", "--silent"], { cwd: ROOT });
  const { stdout } = await run(process.execPath, ["--import", "tsx", "bench/run.ts", "--quick", "--json"], {
    cwd: ROOT,
    timeout: 180_000,
    maxBuffer: 16 * 1024 * 1024,
    env: { ...process.env, BENCH_DATABASE_URL: await testDatabaseUrl() },
  });
  const report = JSON.parse(stdout) as {
    figures: Record<string, unknown>;
    lost: unknown;
    duplicated: unknown;
    targets: Array<{
      figure: string;
      medianRatio: number | null;
      values: number[];
      limitName?: string;
      met: boolean | null;
    }>;
    cpuMicrosPerEvent: Record<string, Record<string, number>>;
    cpuBudget: Array<Array<{ label: string; pipeline: Record<string, number>; raw: Record<string, number> }>>;
  };

  assert.deepEqual(Object.keys(report.figures).sort(), [...FIGURES].sort());
  for (const [name, value] of Object.entries(report.figures)) {
    // A hop's p99 can round to 0 ms on a quick run; the whole latency cannot.
    const least = /Hop/.test(name) ? 0 : Number.MIN_VALUE;
    assert.ok(
      typeof value === "number" && Number.isFinite(value) && value >= least,
      `${name} should be a number ≥ ${least}, got ${JSON.stringify(value)}`,
    );
  }
  // The hops are read back from the stream: every event of the measured window is covered.
  const latency = (report as unknown as { details: { latency: { rows: number; parts: { events: number } } } }).details
    .latency;
  assert.equal(latency.parts.events, latency.rows, "every measured event found in the stream for the hop figures");
  assert.equal(report.lost, 0);
  assert.equal(report.duplicated, 0);

  // Every target with its same-run ratio, and CPU per event of each component.
  assert.deepEqual(
    report.targets.map((t) => t.figure.replace(/ @ .*/, "")),
    [...TARGETS],
  );
  const withLimit = report.targets.filter((t) => t.limitName !== undefined);
  assert.equal(withLimit.length, 8, "the CPU paths, e2e single and the four context rows divide by a same-run limit");
  for (const t of withLimit)
    assert.ok(t.medianRatio !== null && t.medianRatio > 0, `${t.figure}: ratio ${String(t.medianRatio)}`);
  // The quick burst (20 concurrent 2 MiB batches at the deployed old space) must shed and keep ingest up.
  const burst = report.targets.find((t) => t.figure.startsWith("heap burst: ingest exited"));
  assert.equal(burst?.met, true, `heap burst failures: ${JSON.stringify(burst?.values)}`);
  // Only the context rows go unjudged.
  assert.deepEqual(
    report.targets.filter((t) => t.met === null).map((t) => t.figure),
    TARGETS.slice(-4),
  );
  // Each path's raw sum has a share of every process that does part of its work, and of no other.
  const [paths] = report.cpuBudget;
  assert.deepEqual(
    paths?.map((p) => p.label),
    ["single POST, end to end", "batch of 100, end to end", "backlog drain with announcements"],
  );
  for (const path of paths ?? []) {
    const doers = path.label.startsWith("backlog")
      ? ["normalize", "nats-server", "postgres"]
      : ["ingest", "normalize", "nats-server", "postgres"];
    for (const proc of ["ingest", "normalize", "nats-server", "postgres"])
      assert.ok(
        doers.includes(proc) ? (path.raw[proc] ?? 0) > 0 : path.raw[proc] === 0,
        `${path.label}: raw ${proc} ${path.raw[proc]} µs/event`,
      );
  }
  assert.deepEqual(Object.keys(report.cpuMicrosPerEvent), ["single", "batch", "drainOne", "drainQuiet"]);
  for (const [phase, micros] of Object.entries(report.cpuMicrosPerEvent)) {
    for (const component of ["normalize", "nats-server", "postgres"])
      assert.ok((micros[component] ?? 0) > 0, `${phase} ${component}: ${micros[component]} µs/event`);
  }
  assert.ok((report.cpuMicrosPerEvent.single?.ingest ?? 0) > 0, "ingest's CPU per single event");
});
