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
  "e2eSingleEventsPerSec",
  "e2eBatchEventsPerSec",
  "latencyP50Ms",
  "latencyP99Ms",
  "latencyMaxMs",
  "drainOneEventsPerSec",
  "drainTwoEventsPerSec",
  "drainQuietEventsPerSec",
  "e2eSingleTracingOffEventsPerSec",
  "e2eSingleTracingNoEndpointEventsPerSec",
  "e2eSingleTracingExportingEventsPerSec",
  "ingestPeakRssMb",
  "normalizePeakRssMb",
];

test("bench --quick measures every figure and loses or duplicates nothing", { timeout: 200_000 }, async () => {
  await run("npm", ["run", "build", "--silent"], { cwd: ROOT });
  const { stdout } = await run(process.execPath, ["--import", "tsx", "bench/run.ts", "--quick", "--json"], {
    cwd: ROOT,
    timeout: 180_000,
    maxBuffer: 16 * 1024 * 1024,
    env: { ...process.env, BENCH_DATABASE_URL: await testDatabaseUrl() },
  });
  const report = JSON.parse(stdout) as { figures: Record<string, unknown>; lost: unknown; duplicated: unknown };

  assert.deepEqual(Object.keys(report.figures).sort(), [...FIGURES].sort());
  for (const [name, value] of Object.entries(report.figures)) {
    assert.ok(
      typeof value === "number" && Number.isFinite(value) && value > 0,
      `${name} should be a positive number, got ${JSON.stringify(value)}`,
    );
  }
  assert.equal(report.lost, 0);
  assert.equal(report.duplicated, 0);
});
