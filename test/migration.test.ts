import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { DEFAULT_TOPOLOGY_NAMES } from "@aa/event-bus";
import { migrate } from "@aa/ops";
import { startLoad } from "./helpers/load.js";
import { freePort } from "./helpers/nats.js";
import { startService, type RunningService } from "./helpers/service.js";
import { createStack, postJson, streamMessages, type Stack } from "./helpers/stack.js";
import { waitFor } from "./helpers/wait.js";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const HRV = "athlete-ally.hrv.raw-received";

async function aaOps(
  stack: Stack,
  args: string[],
  healthUrls: string[] = [],
): Promise<{ code: number; stdout: string; report: Record<string, unknown> | undefined }> {
  const health =
    healthUrls.length > 0
      ? ["--ingest-url", healthUrls[0]!, "--normalize-url", healthUrls[1]!]
      : ["--skip-health-check"];
  try {
    const { stdout } = await run(
      process.execPath,
      ["tools/ops/dist/cli.js", ...args, "--nats-url", stack.nats.url, ...health, "--json"],
      { cwd: ROOT, timeout: 180_000 },
    );
    return { code: 0, stdout, report: JSON.parse(stdout) as Record<string, unknown> };
  } catch (error) {
    const e = error as { code?: number; stdout?: string };
    return { code: e.code ?? 1, stdout: e.stdout ?? "", report: undefined };
  }
}

async function metricsText(url: string): Promise<string> {
  return (await fetch(`${url}/metrics`)).text();
}

describe("migration under load", () => {
  let stack: Stack;
  let multiReplica: RunningService;
  let multiUrl: string;
  before(async () => {
    stack = await createStack({ mode: "single" });
  });
  after(async () => {
    await multiReplica?.stop();
    await stack.close();
  });

  test(
    "single → multi → single → multi with a legacy backlog: every accepted event stored exactly once, no 5xx",
    { timeout: 600_000 },
    async () => {
      // A backlog on the legacy stream before any consumer runs.
      const backlog = 2_000;
      await Promise.all(
        Array.from({ length: backlog }, (_, i) =>
          stack.js.publish(
            HRV,
            JSON.stringify({
              eventId: `backlog-${i}`,
              userId: `backlog-${i}`,
              date: "2025-10-01",
              rmssd: 55,
              receivedAt: new Date().toISOString(),
            }),
            { msgID: `backlog-${i}` },
          ),
        ),
      );
      assert.equal(await streamMessages(stack.jsm, "ATHLETE_ALLY_EVENTS"), backlog);

      // A rolling restart in progress: one replica in each mode on the same durables.
      await stack.startNormalize({ EVENT_STREAM_MODE: "single" });
      const port = String(await freePort());
      multiUrl = `http://127.0.0.1:${port}`;
      multiReplica = startService("normalize", { ...stack.env, EVENT_STREAM_MODE: "multi", PORT: port });
      await multiReplica.waitForLog("[normalize] Listening on");
      await stack.startIngest();

      const load = startLoad({ url: stack.ingestUrl, ratePerSecond: 250, prefix: "mig", maxSeconds: 300 });
      // Before and after each handoff, traffic flows: 500 more answers (2 s of load), the newest accepted one stored.
      const trafficFlows = async () => {
        const answered = load.results.length + 500;
        await waitFor(() => load.results.length >= answered, { what: "500 more answers", timeoutMs: 30_000 });
        const newest = load.results.filter((r) => r.status === 202).at(-1);
        assert.ok(newest, "an accepted reading");
        await waitFor(
          async () =>
            (await stack.db.pool.query("SELECT 1 FROM hrv_data WHERE event_id = $1", [newest.eventId])).rowCount === 1,
          { what: `${newest.eventId} stored`, timeoutMs: 60_000 },
        );
      };
      await trafficFlows();
      const health = [stack.ingestUrl, stack.normalizeUrl];
      const reports: Record<string, unknown>[] = [];
      for (const to of ["multi", "single", "multi"]) {
        const result = await aaOps(stack, ["migrate", "--to", to, "--drain-timeout", "120"], health);
        assert.equal(result.code, 0, result.stdout);
        reports.push(result.report!);
        await trafficFlows();
      }
      const results = await load.stop();

      const accepted = results.filter((r) => r.status === 202);
      const failed = results.filter((r) => r.status !== 202);
      assert.equal(failed.length, 0, `non-2xx: ${JSON.stringify(failed.slice(0, 5))}`);
      assert.ok(accepted.length >= 2_000, `only ${accepted.length} accepted`);

      const expected = accepted.length + backlog;
      await waitFor(
        async () => {
          const { rows } = await stack.db.pool.query<{ n: string }>(
            "SELECT count(*) AS n FROM hrv_data WHERE user_id LIKE 'mig-%' OR user_id LIKE 'backlog-%'",
          );
          return Number(rows[0]?.n) === expected;
        },
        { what: `${expected} rows`, timeoutMs: 120_000, intervalMs: 500 },
      );
      const missing = await stack.db.pool.query(
        "SELECT count(*) AS n FROM unnest($1::text[]) AS accepted(event_id) WHERE NOT EXISTS (SELECT 1 FROM hrv_data h WHERE h.event_id = accepted.event_id)",
        [accepted.map((r) => r.eventId)],
      );
      assert.equal(Number(missing.rows[0].n), 0, "lost events");
      const unexpected = await stack.db.pool.query(
        "SELECT count(*) AS n FROM hrv_data WHERE user_id LIKE 'mig-%' AND NOT (event_id = ANY($1::text[]))",
        [accepted.map((r) => r.eventId)],
      );
      assert.equal(Number(unexpected.rows[0].n), 0, "unexpected rows");

      // The legacy durables drained; both streams saw successes (the stream label switched).
      const legacy = await stack.jsm.consumers.info("ATHLETE_ALLY_EVENTS", DEFAULT_TOPOLOGY_NAMES.hrvDurable);
      assert.equal(legacy.num_pending + legacy.num_ack_pending, 0);
      const text = (await metricsText(stack.normalizeUrl)) + (await metricsText(multiUrl));
      for (const stream of ["ATHLETE_ALLY_EVENTS", "AA_CORE_HOT"]) {
        // Series start at 0 when a binding appears: require a non-zero count.
        assert.match(
          text,
          new RegExp(
            `normalize_hrv_messages_total\\{result="success",subject="${HRV}",stream="${stream}"[^}]*\\} [1-9]`,
          ),
        );
      }
      const gaps = reports.flatMap((r) => (r.moved as { gapMs: number }[]).map((m) => m.gapMs));
      const slowest = Math.max(...results.map((r) => r.ms));
      console.log(
        `# migration: accepted=${accepted.length} backlog=${backlog} non2xx=${failed.length} gaps_ms=${gaps.join(",")} drain_ms=${reports.map((r) => r.drainMs).join(",")} slowest_request_ms=${Math.round(slowest)}`,
      );
    },
  );

  test("a run interrupted between the two subject updates resumes when run again", async () => {
    const names = DEFAULT_TOPOLOGY_NAMES;
    const lines: string[] = [];
    const report = await migrate(stack.jsm, {
      to: "single",
      names,
      replicas: 1,
      dryRun: false,
      health: [],
      allowUnknownConsumers: false,
      drainIgnore: [],
      drainTimeoutMs: 60_000,
      pollMs: 500,
      write: (l) => lines.push(l),
      interruptAfterSourceUpdate: true,
    });
    assert.equal(report.ok, false);
    assert.ok(
      !(await stack.jsm.streams.info(names.core)).config.subjects.includes("athlete-ally.>"),
      "source gave up the subject",
    );
    assert.ok(
      !(await stack.jsm.streams.info(names.legacy)).config.subjects.includes("athlete-ally.>"),
      "target does not have it yet",
    );

    const pending = postJson(`${stack.ingestUrl}/ingest/hrv`, {
      userId: "resume",
      date: "2025-10-02",
      rmssd: 61,
      eventId: "resume-1",
    });
    const again = await aaOps(stack, ["migrate", "--to", "single"]);
    assert.equal(again.code, 0, again.stdout);
    assert.equal((await pending).status, 202, "the publish retried through the gap");
    assert.deepEqual((await stack.jsm.streams.info(names.legacy)).config.subjects.sort(), [
      "athlete-ally.>",
      "sleep.*",
      "vendor.>",
    ]);
    await waitFor(
      async () => (await stack.db.pool.query("SELECT 1 FROM hrv_data WHERE event_id = 'resume-1'")).rowCount === 1,
      { what: "row after resume", timeoutMs: 30_000 },
    );

    const noop = await aaOps(stack, ["migrate", "--to", "single"]);
    assert.equal(noop.code, 0);
    assert.equal(noop.report?.alreadyDone, true);
  });
});
