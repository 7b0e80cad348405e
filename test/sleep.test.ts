import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { validateSleepReading } from "@aa/contracts";
import { DlqHeaders } from "@aa/event-bus";
import { startService } from "./helpers/service.js";
import { getJson, postJson, startBoundPipeline, streamMessages, type Stack } from "./helpers/stack.js";
import { waitFor } from "./helpers/wait.js";

const SLEEP = "athlete-ally.sleep.raw-received";
const STORED = "athlete-ally.sleep.normalized-stored";
const PREFIX = "dlq.normalize.sleep.raw-received";
const DURABLE = "normalize-sleep-durable";

type SleepRow = {
  user_id: string;
  date: string;
  duration_minutes: number;
  quality_score: number | null;
  event_id: string;
  raw: unknown;
};

async function sleepRows(stack: Stack, userId: string): Promise<SleepRow[]> {
  const result = await stack.db.pool.query<SleepRow>(
    "SELECT user_id, to_char(date, 'YYYY-MM-DD') AS date, duration_minutes, quality_score, event_id, raw FROM sleep_data WHERE user_id = $1",
    [userId],
  );
  return result.rows;
}

/** The one row of `userId`, once normalize stored it. */
async function storedRow(
  stack: Stack,
  userId: string,
  check: (row: SleepRow) => boolean = () => true,
): Promise<SleepRow> {
  return waitFor(async () => (await sleepRows(stack, userId)).find(check), { what: `sleep_data row of ${userId}` });
}

/** Waits until a metrics line (matched whole) appears, so a series pre-set to 0 is not read too early. */
async function metricLine(url: string, line: RegExp): Promise<void> {
  await waitFor(async () => line.test(await (await fetch(`${url}/metrics`)).text()), { what: `metric ${line}` });
}

test("sleep validation: duration 0–1440 with fractions, quality 0–100, calendar dates", () => {
  const base = { userId: "u", date: "2025-10-02" };
  for (const durationMinutes of [0, 437.5, 1440])
    assert.ok(validateSleepReading({ ...base, durationMinutes }).ok, String(durationMinutes));
  for (const qualityScore of [0, 100])
    assert.ok(validateSleepReading({ ...base, durationMinutes: 1, qualityScore }).ok);
  assert.equal(validateSleepReading({ ...base, date: "2025-02-29", durationMinutes: 1 }).ok, false);
});

for (const mode of ["multi", "single"] as const) {
  const stream = mode === "multi" ? "AA_CORE_HOT" : "ATHLETE_ALLY_EVENTS";

  describe(`sleep pipeline in ${mode} mode`, () => {
    let stack: Stack;
    before(async () => {
      stack = await startBoundPipeline(mode);
    });
    after(async () => stack.close());

    test("logs the Sleep runbook lines beside the HRV ones, and health lists both bindings", async () => {
      const log = stack.normalize!.messages();
      assert.ok(
        log.includes(`[normalize] Found existing HRV consumer on ${stream}: normalize-hrv-durable`),
        log.join("\n"),
      );
      assert.ok(log.includes(`[normalize] Found existing Sleep consumer on ${stream}: ${DURABLE}`));
      assert.ok(log.includes(`[normalize] Sleep durable pull consumer bound: ${DURABLE}, subject: ${SLEEP}`));
      assert.ok(log.includes(`[normalize-sleep] DLQ subject prefix: ${PREFIX}`));
      const health = await getJson(`${stack.normalizeUrl}/health`);
      assert.equal(health.status, 200);
      const bindings = (health.body.consumers as { stream: string; durable: string; role: string }[]).map((c) => [
        c.durable,
        c.stream,
        c.role,
      ]);
      assert.deepEqual(bindings, [
        ["normalize-hrv-durable", stream, "primary"],
        [DURABLE, stream, "primary"],
      ]);
    });

    test("a sleep reading becomes a row, is announced, and metrics carry the runbook labels", async () => {
      const userId = `sleep-e2e-${mode}`;
      const reply = await postJson(`${stack.ingestUrl}/ingest/sleep`, {
        userId,
        date: "2025-10-02",
        durationMinutes: 480,
        qualityScore: 85,
        capturedAt: new Date().toISOString(),
        raw: { device: "ring" },
      });
      assert.equal(reply.status, 202, JSON.stringify(reply.body));
      assert.equal(reply.body.status, "received");
      assert.ok(!Number.isNaN(Date.parse(String(reply.body.timestamp))));

      const row = await storedRow(stack, userId);
      assert.deepEqual(row, {
        user_id: userId,
        date: "2025-10-02",
        duration_minutes: 480,
        quality_score: 85,
        event_id: reply.body.eventId,
        raw: { device: "ring" },
      });

      const announced = await waitFor(
        () => stack.jsm.streams.getMessage(stream, { last_by_subj: STORED }).catch(() => undefined),
        { what: "normalized-stored" },
      );
      assert.deepEqual(
        { ...announced.json<Record<string, unknown>>(), storedAt: "-", capturedAt: "-" },
        {
          eventId: reply.body.eventId,
          userId,
          date: "2025-10-02",
          durationMinutes: 480,
          qualityScore: 85,
          capturedAt: "-",
          storedAt: "-",
        },
      );

      const labels = `subject="${SLEEP}",stream="${stream}",durable="${DURABLE}"`;
      await metricLine(
        stack.normalizeUrl,
        new RegExp(`^normalize_sleep_messages_total\\{result="success",${labels}\\} 1$`, "m"),
      );
      await metricLine(
        stack.normalizeUrl,
        new RegExp(
          `^normalize_sleep_publish_to_stored_seconds_count\\{stream="${stream}",durable="${DURABLE}"\\} 1$`,
          "m",
        ),
      );
      await metricLine(
        stack.normalizeUrl,
        /^event_bus_events_published_total\{topic="sleep_normalized_stored",status="success"\} 1$/m,
      );
      await metricLine(
        stack.ingestUrl,
        /^event_bus_events_published_total\{topic="sleep_raw_received",status="success"\} 1$/m,
      );
    });

    test("a fractional duration is stored exactly, and the quality score is optional", async () => {
      const userId = `sleep-fraction-${mode}`;
      const reply = await postJson(`${stack.ingestUrl}/ingest/sleep`, {
        userId,
        date: "2025-10-03",
        durationMinutes: 437.5,
      });
      assert.equal(reply.status, 202);
      const row = await storedRow(stack, userId);
      assert.equal(row.duration_minutes, 437.5);
      assert.equal(row.quality_score, null);
    });

    test("the same eventId posted twice is one stream message and one row", async () => {
      const before = await streamMessages(stack.jsm, stream, "athlete-ally.sleep.raw-received");
      const body = {
        userId: `sleep-dup-${mode}`,
        date: "2025-10-04",
        durationMinutes: 400,
        eventId: `sleep-dup-${mode}-1`,
      };
      const first = await postJson(`${stack.ingestUrl}/ingest/sleep`, body);
      const second = await postJson(`${stack.ingestUrl}/api/v1/ingest/sleep`, body);
      assert.equal(first.status, 202);
      assert.equal(second.status, 202);
      assert.equal(second.body.eventId, body.eventId);
      assert.equal(second.body.duplicate, true);
      await storedRow(stack, body.userId);
      // The raw event plus its normalized-stored announcement.
      await waitFor(
        async () => (await streamMessages(stack.jsm, stream, "athlete-ally.sleep.raw-received")) === before + 1,
        { what: "one raw message" },
      );
      assert.equal((await sleepRows(stack, body.userId)).length, 1);

      const keyed = { userId: `sleep-idem-${mode}`, date: "2025-10-04", durationMinutes: 410 };
      const again = await postJson(`${stack.ingestUrl}/ingest/sleep`, keyed, {
        "idempotency-key": `sleep-idem-${mode}`,
      });
      const retry = await postJson(`${stack.ingestUrl}/ingest/sleep`, keyed, {
        "idempotency-key": `sleep-idem-${mode}`,
      });
      assert.equal(again.body.eventId, `sleep-idem-${mode}`);
      assert.equal(retry.body.duplicate, true);
    });

    test("invalid payloads get 400 naming each bad field, and nothing is published", async () => {
      const before = await streamMessages(stack.jsm, stream, "athlete-ally.sleep.raw-received");
      const ok = { userId: "u", date: "2025-10-02", durationMinutes: 480 };
      const cases: [unknown, string[]][] = [
        [{ ...ok, durationMinutes: 1441 }, ["durationMinutes"]],
        [{ ...ok, durationMinutes: -1 }, ["durationMinutes"]],
        [{ ...ok, qualityScore: 101 }, ["qualityScore"]],
        [{ ...ok, qualityScore: -1, capturedAt: "yesterday" }, ["qualityScore", "capturedAt"]],
        [{ ...ok, date: "2025-13-45" }, ["date"]],
        [{ ...ok, date: "2999-01-01" }, ["date"]],
        [{ ...ok, durationMinutes: "480" }, ["durationMinutes"]],
        [{ userId: "u", date: "2025-10-02" }, ["durationMinutes"]],
        [{ ...ok, rmssd: 55 }, ["rmssd"]],
        [[], ["(body)"]],
      ];
      for (const [body, fields] of cases) {
        const reply = await postJson(`${stack.ingestUrl}/ingest/sleep`, body);
        assert.equal(reply.status, 400, JSON.stringify(body));
        assert.equal(reply.body.error, "Invalid sleep reading");
        const named = (reply.body.details as { field: string }[]).map((d) => d.field);
        for (const field of fields)
          assert.ok(named.includes(field), `${JSON.stringify(body)} → ${JSON.stringify(reply.body)}`);
      }
      assert.equal((await postJson(`${stack.ingestUrl}/ingest/sleep`, "{not json")).status, 400);
      assert.equal(await streamMessages(stack.jsm, stream, "athlete-ally.sleep.raw-received"), before);
    });

    test("a late replay with an older capturedAt never overwrites the newer row", async () => {
      const userId = `sleep-replay-${mode}`;
      const reading = { userId, date: "2025-10-05" };
      await postJson(`${stack.ingestUrl}/ingest/sleep`, {
        ...reading,
        durationMinutes: 420,
        capturedAt: "2025-10-05T08:00:00Z",
      });
      await storedRow(stack, userId, (r) => r.duration_minutes === 420);
      await postJson(`${stack.ingestUrl}/ingest/sleep`, {
        ...reading,
        durationMinutes: 300,
        capturedAt: "2025-10-05T07:00:00Z",
      });
      const newer = await postJson(`${stack.ingestUrl}/ingest/sleep`, {
        ...reading,
        durationMinutes: 450,
        qualityScore: 90,
        capturedAt: "2025-10-05T09:00:00Z",
      });
      await storedRow(stack, userId, (r) => r.duration_minutes === 450);
      const rows = await sleepRows(stack, userId);
      assert.equal(rows.length, 1);
      assert.equal(rows[0]?.event_id, newer.body.eventId);
      assert.equal(rows[0]?.quality_score, 90);
    });

    test("a schema-invalid message goes to the sleep DLQ at once, with headers, and is not stored", async () => {
      const eventId = `sleep-poison-${mode}`;
      const payload = JSON.stringify({
        eventId,
        userId: "sleep-poison",
        date: "2025-10-02",
        durationMinutes: 1441,
        qualityScore: 101,
        receivedAt: new Date().toISOString(),
      });
      const ack = await stack.js.publish(SLEEP, payload, { msgID: eventId });
      const dlq = await waitFor(
        () =>
          stack.jsm.streams.getMessage("AA_DLQ", { last_by_subj: `${PREFIX}.schema-invalid` }).catch(() => undefined),
        { what: "DLQ copy" },
      );
      assert.equal(new TextDecoder().decode(dlq.data), payload, "payload bytes untouched");
      const h = dlq.header;
      assert.equal(h.get(DlqHeaders.reason), "schema_invalid");
      assert.match(h.get(DlqHeaders.error), /durationMinutes must be <= 1440.*qualityScore must be <= 100/);
      assert.equal(h.get(DlqHeaders.originalSubject), SLEEP);
      assert.equal(h.get(DlqHeaders.originalStream), stream);
      assert.equal(h.get(DlqHeaders.originalSequence), String(ack.seq));
      assert.equal(h.get(DlqHeaders.originalMsgId), eventId);
      assert.equal(h.get(DlqHeaders.durable), DURABLE);
      assert.equal(h.get(DlqHeaders.deliveryCount), "1");
      assert.equal(h.get(DlqHeaders.service), "normalize-service");
      assert.equal((await sleepRows(stack, "sleep-poison")).length, 0);
      await metricLine(
        stack.normalizeUrl,
        new RegExp(`^dlq_messages_total\\{consumer="${DURABLE}",reason="schema_invalid"\\} 1$`, "m"),
      );
      await metricLine(stack.normalizeUrl, /^normalize_sleep_messages_total\{result="schema_invalid",[^}]*\} 1$/m);
      await waitFor(async () => (await stack.jsm.consumers.info(stream, DURABLE)).num_ack_pending === 0, {
        what: "poison terminated",
        timeoutMs: 5_000,
      });
    });

    if (mode === "multi") {
      test("a missing sleep durable at startup: exit non-zero naming it and the create-consumers command", async () => {
        const normalize = startService("normalize", {
          ...stack.env,
          PORT: "0",
          NORMALIZE_SLEEP_DURABLE: "missing-sleep-durable",
        });
        assert.notEqual(await normalize.exited, 0);
        const log = normalize.messages();
        assert.ok(
          log.some(
            (m) =>
              m.includes("Failed to find Sleep consumer on any available stream (durable missing-sleep-durable") &&
              m.includes("create-consumers.js") &&
              m.includes("npx aa-ops topology apply"),
          ),
          normalize.lines.join("\n"),
        );
        assert.ok(
          log.includes(
            `[normalize] HRV durable pull consumer bound: normalize-hrv-durable, subject: athlete-ally.hrv.raw-received`,
          ),
          "HRV lines unchanged",
        );
      });

      test("the sleep durable deleted at runtime: HRV keeps flowing and health says degraded, naming it", async () => {
        await stack.jsm.consumers.delete(stream, DURABLE);
        await postJson(`${stack.ingestUrl}/ingest/hrv`, { userId: "hrv-still-flows", date: "2025-10-02", rmssd: 55 });
        await waitFor(
          async () =>
            (await stack.db.pool.query("SELECT 1 FROM hrv_data WHERE user_id = 'hrv-still-flows'")).rowCount === 1,
          { what: "HRV row" },
        );
        const health = await waitFor(
          async () => {
            const reply = await getJson(`${stack.normalizeUrl}/health`);
            return reply.status === 503 ? reply : undefined;
          },
          { what: "degraded health" },
        );
        assert.equal(health.body.status, "degraded");
        const sleep = (health.body.consumers as { durable: string; error: string | null }[]).find(
          (c) => c.durable === DURABLE,
        );
        assert.equal(sleep?.error, `durable ${DURABLE} no longer exists on ${stream}`);
        assert.equal(stack.normalize!.process.exitCode, null, "normalize keeps running");
      });
    }
  });
}
