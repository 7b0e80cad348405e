import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { freePort } from "./helpers/nats.js";
import { baseUrl, startService } from "./helpers/service.js";
import { getJson, postJson, startBoundPipeline, streamMessages, type Stack } from "./helpers/stack.js";
import { waitFor } from "./helpers/wait.js";

type HrvRow = { user_id: string; date: string; rmssd: number; ln_rmssd: number; event_id: string; captured_at: Date };

async function hrvRows(stack: Stack, userId: string): Promise<HrvRow[]> {
  const result = await stack.db.pool.query<HrvRow>(
    "SELECT user_id, to_char(date, 'YYYY-MM-DD') AS date, rmssd, ln_rmssd, event_id, captured_at FROM hrv_data WHERE user_id = $1",
    [userId],
  );
  return result.rows;
}

for (const mode of ["multi", "single"] as const) {
  const stream = mode === "multi" ? "AA_CORE_HOT" : "ATHLETE_ALLY_EVENTS";

  describe(`pipeline in ${mode} mode`, () => {
    let stack: Stack;
    before(async () => {
      stack = await startBoundPipeline(mode);
    });
    after(async () => stack.close());

    test("logs the runbook's startup lines", () => {
      const log = stack.normalize!.messages();
      assert.ok(log.includes(`[event-bus] Stream mode: ${mode} (EVENT_STREAM_MODE="${mode}")`), log.join("\n"));
      const candidates = mode === "multi" ? "AA_CORE_HOT, ATHLETE_ALLY_EVENTS" : "ATHLETE_ALLY_EVENTS";
      assert.ok(log.includes(`[normalize-service] Stream candidates: ${candidates}`));
      assert.ok(log.includes(`[normalize] Found existing HRV consumer on ${stream}: normalize-hrv-durable`));
      assert.ok(
        log.includes(
          "[normalize] HRV durable pull consumer bound: normalize-hrv-durable, subject: athlete-ally.hrv.raw-received",
        ),
      );
      assert.ok(log.includes("[normalize-hrv] DLQ subject prefix: dlq.normalize.hrv.raw-received"));
    });

    test("health bodies match the runbook", async () => {
      const ingest = await getJson(`${stack.ingestUrl}/health`);
      assert.equal(ingest.status, 200);
      assert.deepEqual(ingest.body, { status: "healthy", service: "ingest", eventBus: "connected" });
      const normalize = await getJson(`${stack.normalizeUrl}/health`);
      assert.equal(normalize.status, 200);
      assert.equal(normalize.body.status, "healthy");
      assert.ok(!Number.isNaN(Date.parse(String(normalize.body.timestamp))));
      assert.deepEqual(normalize.body.services, { database: "connected", nats: "connected" });
      const [binding] = normalize.body.consumers as { stream: string; role: string }[];
      assert.equal(binding?.stream, stream);
      assert.equal(binding?.role, "primary");
    });

    test("an HRV reading becomes a row with ln(rmssd), and metrics carry the runbook labels", async () => {
      const userId = `e2e-${mode}`;
      const reply = await postJson(`${stack.ingestUrl}/ingest/hrv`, {
        userId,
        date: "2025-10-02",
        rmssd: 55,
        capturedAt: new Date().toISOString(),
      });
      assert.equal(reply.status, 202);
      assert.equal(reply.body.status, "received");
      assert.equal(typeof reply.body.eventId, "string");
      assert.ok(!Number.isNaN(Date.parse(String(reply.body.timestamp))));

      const [row] = await waitFor(
        async () => ((await hrvRows(stack, userId)).length > 0 ? hrvRows(stack, userId) : undefined),
        { what: "hrv_data row" },
      );
      assert.equal(row?.rmssd, 55);
      assert.ok(Math.abs((row?.ln_rmssd ?? 0) - 4.007) < 0.001, `ln_rmssd ${row?.ln_rmssd}`);
      assert.equal(row?.event_id, reply.body.eventId);

      const normalizeMetrics = await waitFor(async () => {
        const text = await (await fetch(`${stack.normalizeUrl}/metrics`)).text();
        // Counters are pre-set to 0: wait for the processed message, not for the series.
        return /^normalize_hrv_messages_total\{result="success"[^}]*\} 1$/m.test(text) ? text : undefined;
      });
      assert.match(
        normalizeMetrics,
        new RegExp(
          `^normalize_hrv_messages_total\\{result="success",subject="athlete-ally.hrv.raw-received",stream="${stream}",durable="normalize-hrv-durable"\\} 1$`,
          "m",
        ),
      );
      const ingestMetrics = await (await fetch(`${stack.ingestUrl}/metrics`)).text();
      assert.match(ingestMetrics, /^event_bus_events_published_total\{topic="hrv_raw_received",status="success"\} 1$/m);
      assert.match(ingestMetrics, /^event_bus_publish_duration_seconds_count\{topic="hrv_raw_received"\} 1$/m);
    });

    test("the same eventId posted twice is one stream message and one row", async () => {
      const before = await streamMessages(stack.jsm, stream, "athlete-ally.hrv.raw-received");
      const body = { userId: `dup-${mode}`, date: "2025-10-03", rmssd: 60, eventId: `dup-${mode}-1` };
      const first = await postJson(`${stack.ingestUrl}/ingest/hrv`, body);
      const second = await postJson(`${stack.ingestUrl}/api/v1/ingest/hrv`, body);
      assert.equal(first.status, 202);
      assert.equal(second.status, 202);
      assert.equal(second.body.eventId, `dup-${mode}-1`);
      assert.equal(second.body.duplicate, true);
      await waitFor(async () => (await hrvRows(stack, body.userId)).length === 1, { what: "dup row" });
      await waitFor(
        async () => (await streamMessages(stack.jsm, stream, "athlete-ally.hrv.raw-received")) === before + 1,
        { what: "one raw message" },
      );
      assert.equal((await hrvRows(stack, body.userId)).length, 1);
    });

    test("an Idempotency-Key header makes retries idempotent", async () => {
      const body = { userId: `idem-${mode}`, date: "2025-10-04", rmssd: 42 };
      const first = await postJson(`${stack.ingestUrl}/ingest/hrv`, body, { "idempotency-key": `idem-${mode}` });
      const second = await postJson(`${stack.ingestUrl}/ingest/hrv`, body, { "idempotency-key": `idem-${mode}` });
      assert.equal(first.body.eventId, `idem-${mode}`);
      assert.equal(second.body.duplicate, true);
      const conflict = await postJson(
        `${stack.ingestUrl}/ingest/hrv`,
        { ...body, eventId: "other" },
        { "idempotency-key": `idem-${mode}` },
      );
      assert.equal(conflict.status, 400);
    });

    test("invalid payloads get 400 naming each bad field, and nothing is published", async () => {
      const before = await streamMessages(stack.jsm, stream, "athlete-ally.hrv.raw-received");
      const cases: [unknown, string[]][] = [
        [{ userId: "u", date: "2025-13-45", rmssd: 55 }, ["date"]],
        [{ userId: "u", date: "2025-10-02", rmssd: 0 }, ["rmssd"]],
        [{ userId: "u", date: "2025-10-02", rmssd: -3, capturedAt: "yesterday" }, ["rmssd", "capturedAt"]],
        [{ userId: "u", date: "2025-10-02", rmssd: 1001 }, ["rmssd"]],
        [{ userId: "u", date: "2025-10-02", rmssd: "55" }, ["rmssd"]],
        [{ date: "2025-10-02", rmssd: 55 }, ["userId"]],
        [{ userId: "", date: "2025-10-02", rmssd: 55 }, ["userId"]],
        [{ userId: "u", date: "2999-01-01", rmssd: 55 }, ["date"]],
        [{ userId: "u", date: "2025-10-02", rmssd: 55, capturedAt: "2025-10-02T10:00:00" }, ["capturedAt"]],
        [{ userId: "u", date: "2025-10-02", rmssd: 55, extra: true }, ["extra"]],
        [[], ["(body)"]],
      ];
      for (const [body, fields] of cases) {
        const reply = await postJson(`${stack.ingestUrl}/ingest/hrv`, body);
        assert.equal(reply.status, 400, JSON.stringify(body));
        assert.equal(typeof reply.body.error, "string");
        const named = (reply.body.details as { field: string }[]).map((d) => d.field);
        for (const field of fields)
          assert.ok(named.includes(field), `${JSON.stringify(body)} → ${JSON.stringify(reply.body)}`);
      }
      const broken = await postJson(`${stack.ingestUrl}/ingest/hrv`, "{not json");
      assert.equal(broken.status, 400);
      assert.equal(await streamMessages(stack.jsm, stream, "athlete-ally.hrv.raw-received"), before);
    });

    test("a publish while no stream owns the subject (a handoff gap) is retried, not refused", async () => {
      // An ingest of its own at debug level: its "publish failed; retrying" record shows the gap was hit.
      const port = String(await freePort());
      const ingest = startService("ingest", { ...stack.env, PORT: port, LOG_LEVEL: "debug" });
      const config = (await stack.jsm.streams.info(stream)).config;
      try {
        await ingest.waitForLog("[ingest] Listening on");
        await stack.jsm.streams.update(stream, {
          ...config,
          subjects: config.subjects.filter((s) => s !== "athlete-ally.>"),
        });
        const pending = postJson(`${baseUrl(port)}/ingest/hrv`, {
          userId: `gap-${mode}`,
          date: "2025-10-06",
          rmssd: 44,
        });
        await ingest.waitForLog("publish failed; retrying");
        await stack.jsm.streams.update(stream, config);
        const reply = await pending;
        assert.equal(reply.status, 202, JSON.stringify(reply.body));
      } finally {
        await stack.jsm.streams.update(stream, config);
        await ingest.stop();
      }
      const retries = ingest.lines
        .filter((line) => line.includes("publish failed; retrying"))
        .map((line) => JSON.parse(line) as { subject?: string; attempt?: number });
      assert.equal(retries[0]?.subject, "athlete-ally.hrv.raw-received");
      assert.equal(retries[0]?.attempt, 1);
      await waitFor(async () => (await hrvRows(stack, `gap-${mode}`)).length === 1, { what: "row after the gap" });
    });

    test("a late replay with an older capturedAt never overwrites the newer row", async () => {
      const userId = `replay-${mode}`;
      await postJson(`${stack.ingestUrl}/ingest/hrv`, {
        userId,
        date: "2025-10-05",
        rmssd: 70,
        capturedAt: "2025-10-05T08:00:00Z",
      });
      await waitFor(async () => (await hrvRows(stack, userId))[0]?.rmssd === 70, { what: "first row" });
      await postJson(`${stack.ingestUrl}/ingest/hrv`, {
        userId,
        date: "2025-10-05",
        rmssd: 30,
        capturedAt: "2025-10-05T07:00:00Z",
      });
      const newer = await postJson(`${stack.ingestUrl}/ingest/hrv`, {
        userId,
        date: "2025-10-05",
        rmssd: 80,
        capturedAt: "2025-10-05T09:00:00Z",
      });
      await waitFor(async () => (await hrvRows(stack, userId))[0]?.rmssd === 80, { what: "newer row" });
      const rows = await hrvRows(stack, userId);
      assert.equal(rows.length, 1);
      assert.equal(rows[0]?.event_id, newer.body.eventId);
    });
  });
}
