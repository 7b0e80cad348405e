// normalize's peak memory during a migration drain (the Pod's memory limit is sized from it).
//   npm run build && N=60000 RAW_BYTES=0 node --import tsx bench/migration-rss.ts
// A legacy backlog of N HRV and N sleep events, normalize started (multi mode: it binds the legacy
// stream while that owns the subjects), `aa-ops migrate --to multi`, then N more of each on the
// target while the legacy durables drain: each durable has two busy bindings, each holding up to
// 3 × CONSUMER_BATCH_SIZE messages. Prints VmHWM (peak RSS) of the normalize process.
// RAW_BYTES pads each sleep reading's `raw` field, as device data would.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import { createStack, type Stack } from "../test/helpers/stack.js";
import { waitFor } from "../test/helpers/wait.js";
import { hrvRawEvent, IdSequence } from "./events.js";
import { publishPipelined } from "./pipelined.js";

const N = Number(process.env.N ?? 60_000);
const RAW = JSON.stringify({ samples: "x".repeat(Number(process.env.RAW_BYTES ?? 0)) });
const sleepEvent = (id: string) =>
  `{"eventId":"${id}","userId":"${id}","date":"2025-10-01","durationMinutes":400,"raw":${RAW},` +
  `"receivedAt":"${new Date().toISOString()}"}`;
const statusMb = (pid: number, field: string) =>
  Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024;

async function publishBoth(stack: Stack, ids: IdSequence): Promise<void> {
  await publishPipelined(stack.js, "athlete-ally.hrv.raw-received", N, 2000, () => {
    const id = ids.next();
    return { id, data: hrvRawEvent(id) };
  });
  await publishPipelined(stack.js, "athlete-ally.sleep.raw-received", N, 2000, () => {
    const id = ids.next();
    return { id, data: sleepEvent(id) };
  });
}

async function owns(stack: Stack, stream: string, subject: string): Promise<boolean> {
  return (await stack.jsm.streams.info(stream).catch(() => undefined))?.config.subjects.includes(subject) === true;
}

async function rows(stack: Stack): Promise<number> {
  const result = await stack.db.pool.query<{ count: string }>(
    "SELECT (SELECT count(*) FROM hrv_data) + (SELECT count(*) FROM sleep_data) AS count",
  );
  return Number(result.rows[0]?.count ?? 0);
}

const stack = await createStack({ mode: "single" });
try {
  const ids = new IdSequence("rss");
  await publishBoth(stack, ids);
  const normalize = await stack.startNormalize({ EVENT_STREAM_MODE: "multi" });
  const pid = normalize.process.pid ?? 0;
  console.log(`legacy backlog ${2 * N}; normalize started, RSS ${statusMb(pid, "VmRSS").toFixed(0)} MB`);
  const args = [
    "tools/ops/dist/cli.js",
    "migrate",
    "--to",
    "multi",
    "--nats-url",
    stack.nats.url,
    "--skip-health-check",
    "--drain-ignore",
    "normalize-oura",
    "--drain-timeout",
    "1800",
  ];
  const migration = promisify(execFile)(process.execPath, args, { timeout: 1_900_000 });
  await waitFor(
    async () => (await owns(stack, "AA_CORE_HOT", "sleep.*")) && (await owns(stack, "AA_VENDOR_HOT", "vendor.>")),
    { timeoutMs: 120_000, what: "handoff" },
  );
  await publishBoth(stack, ids);
  console.log(
    (await migration).stdout
      .split("\n")
      .filter((l) => l.includes("drained"))
      .join("\n"),
  );
  await waitFor(async () => (await rows(stack)) >= 4 * N, {
    timeoutMs: 1_800_000,
    intervalMs: 1000,
    what: "every row",
  });
  console.log(
    `RESULT N=${N} RAW_BYTES=${process.env.RAW_BYTES ?? 0}: ` +
      `normalize peak RSS (VmHWM) ${statusMb(pid, "VmHWM").toFixed(0)} MB`,
  );
} finally {
  await stack.close();
}
