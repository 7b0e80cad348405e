import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { readingKey } from "@aa/contracts";
import { DlqHeaders } from "@aa/event-bus";
import { startPrivatePostgres, type PrivatePostgres } from "./helpers/postgres.js";
import { createStack, getJson, postJson, streamMessages, type Stack } from "./helpers/stack.js";
import { waitFor } from "./helpers/wait.js";

const HRV = "athlete-ally.hrv.raw-received";
const PREFIX = "dlq.normalize.hrv.raw-received";

async function metric(stack: Stack, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`${stack.normalizeUrl}/metrics`)).text();
  const line = text.split("\n").find((l) => pattern.test(l));
  return line ? Number(line.split(" ").at(-1)) : 0;
}
const retries = (stack: Stack) => metric(stack, /^normalize_hrv_messages_total\{result="retry"/);

/** The dead letter is the accepted reading: its payload has the client's eventId, its msg id the reading's key. */
function assertDeadLetterOf(dlq: { data: Uint8Array; header: { get(name: string): string } }, eventId: unknown): void {
  const event = JSON.parse(new TextDecoder().decode(dlq.data)) as { eventId: string; userId: string; source: string };
  assert.equal(event.eventId, eventId);
  assert.equal(
    dlq.header.get(DlqHeaders.originalMsgId),
    readingKey({ kind: "hrv", source: event.source, userId: event.userId, eventId: event.eventId }),
  );
}

async function rowCount(stack: Stack, userId: string): Promise<number> {
  return (await stack.db.pool.query("SELECT 1 FROM hrv_data WHERE user_id = $1", [userId])).rowCount ?? 0;
}

describe("failure routing", () => {
  let postgres: PrivatePostgres;
  let stack: Stack;
  before(async () => {
    postgres = await startPrivatePostgres();
    stack = await createStack({ mode: "multi", databaseUrl: postgres.url });
    // Retry budget 12 s: nak delays of 0.8, 1.6, 3.2 and 6.4 s before the fifth and last delivery.
    await stack.startNormalize({ RETRY_BUDGET_MS: "12000" });
    await stack.startIngest();
  });
  after(async () => {
    await stack.close();
    await postgres.destroy();
  });

  test("a schema-invalid message goes to the DLQ at once, with headers, and is not stored", async () => {
    const payload = JSON.stringify({
      eventId: "poison-1",
      userId: "poison",
      date: "2025-13-45",
      rmssd: 0,
      receivedAt: new Date().toISOString(),
    });
    const ack = await stack.js.publish(HRV, payload, { msgID: "poison-1" });
    const dlq = await waitFor(
      () => stack.jsm.streams.getMessage("AA_DLQ", { last_by_subj: `${PREFIX}.schema-invalid` }).catch(() => undefined),
      { what: "DLQ copy" },
    );
    assert.equal(new TextDecoder().decode(dlq.data), payload, "payload bytes untouched");
    const h = dlq.header;
    assert.equal(h.get(DlqHeaders.reason), "schema_invalid");
    assert.match(h.get(DlqHeaders.error), /date must be a real calendar date.*rmssd must be > 0/);
    assert.equal(h.get(DlqHeaders.originalSubject), HRV);
    assert.equal(h.get(DlqHeaders.originalStream), "AA_CORE_HOT");
    assert.equal(h.get(DlqHeaders.originalSequence), String(ack.seq));
    assert.equal(h.get(DlqHeaders.originalMsgId), "poison-1");
    assert.equal(h.get(DlqHeaders.durable), "normalize-hrv-durable");
    assert.equal(h.get(DlqHeaders.deliveryCount), "1");
    assert.equal(h.get(DlqHeaders.service), "normalize-service");
    assert.ok(Date.now() - Date.parse(h.get(DlqHeaders.failedAt)) < 60_000);
    assert.equal(await rowCount(stack, "poison"), 0);
    await waitFor(
      async () =>
        (await metric(stack, /^dlq_messages_total\{consumer="normalize-hrv-durable",reason="schema_invalid"\}/)) === 1,
      { what: "dlq metric" },
    );
    assert.equal(await metric(stack, /^normalize_hrv_messages_total\{result="schema_invalid"/), 1);
    // Terminated after the copy: nothing left for the durable.
    await waitFor(
      async () => (await stack.jsm.consumers.info("AA_CORE_HOT", "normalize-hrv-durable")).num_ack_pending === 0,
      { what: "poison terminated", timeoutMs: 5_000 },
    );
  });

  test("database stopped for a while: the event is stored after recovery and nothing reaches the DLQ", async () => {
    const dlqBefore = await streamMessages(stack.jsm, "AA_DLQ");
    const retriesBefore = await retries(stack);
    await postgres.stop("fast");
    const reply = await postJson(`${stack.ingestUrl}/ingest/hrv`, { userId: "outage", date: "2025-10-02", rmssd: 55 });
    assert.equal(reply.status, 202, "ingest accepts while the database is down: the event is durable in JetStream");
    await waitFor(async () => (await retries(stack)) >= retriesBefore + 2, {
      what: "two failed deliveries",
      timeoutMs: 10_000,
    });
    const health = await getJson(`${stack.normalizeUrl}/health`);
    assert.equal(health.status, 503);
    assert.deepEqual(health.body.services, { database: "disconnected", nats: "connected" });
    await postgres.start();
    await waitFor(async () => (await rowCount(stack, "outage")) === 1, {
      what: "row after recovery",
      timeoutMs: 20_000,
    });
    assert.equal(await streamMessages(stack.jsm, "AA_DLQ"), dlqBefore, "no valid event dead-lettered");
    assert.equal((await getJson(`${stack.normalizeUrl}/health`)).status, 200);
  });

  test("a message that fails every delivery is dead-lettered as max-deliver after the last one", async () => {
    await stack.db.pool.query("ALTER TABLE hrv_data RENAME TO hrv_data_away");
    try {
      const reply = await postJson(`${stack.ingestUrl}/ingest/hrv`, {
        userId: "always-fails",
        date: "2025-10-02",
        rmssd: 55,
      });
      const dlq = await waitFor(
        () => stack.jsm.streams.getMessage("AA_DLQ", { last_by_subj: `${PREFIX}.max-deliver` }).catch(() => undefined),
        { what: "max-deliver DLQ copy", timeoutMs: 30_000 },
      );
      assert.equal(dlq.header.get(DlqHeaders.reason), "max_deliver");
      assert.equal(dlq.header.get(DlqHeaders.deliveryCount), "5");
      assertDeadLetterOf(dlq, reply.body.eventId);
      assert.match(dlq.header.get(DlqHeaders.error), /hrv_data/);
    } finally {
      await stack.db.pool.query("ALTER TABLE hrv_data_away RENAME TO hrv_data");
    }
  });

  test("with the DLQ stream gone, a poison message is kept (nak'd) and lands once the DLQ is back", async () => {
    const dlqConfig = (await stack.jsm.streams.info("AA_DLQ")).config;
    await stack.jsm.streams.delete("AA_DLQ");
    const retriesBefore = await retries(stack);
    await stack.js.publish(HRV, JSON.stringify({ eventId: "poison-2" }), { msgID: "poison-2" });
    await waitFor(async () => (await retries(stack)) >= retriesBefore + 2, {
      what: "failed DLQ publishes",
      timeoutMs: 15_000,
    });
    const info = await stack.jsm.consumers.info("AA_CORE_HOT", "normalize-hrv-durable");
    assert.ok(info.num_ack_pending + info.num_pending >= 1, "message still held by the durable");
    await stack.jsm.streams.add(dlqConfig);
    const dlq = await waitFor(
      () => stack.jsm.streams.getMessage("AA_DLQ", { last_by_subj: `${PREFIX}.schema-invalid` }).catch(() => undefined),
      { what: "DLQ copy after recovery", timeoutMs: 15_000 },
    );
    assert.equal(dlq.header.get(DlqHeaders.originalMsgId), "poison-2");
  });

  test("on its last delivery with the DLQ down, a failing message is held, not stranded", async () => {
    const dlqConfig = (await stack.jsm.streams.info("AA_DLQ")).config;
    await stack.db.pool.query("ALTER TABLE hrv_data RENAME TO hrv_data_away");
    try {
      await stack.jsm.streams.delete("AA_DLQ");
      const reply = await postJson(`${stack.ingestUrl}/ingest/hrv`, { userId: "held", date: "2025-10-02", rmssd: 55 });
      await stack.normalize!.waitForLog(
        "DLQ publish failed on the last delivery; holding the message and retrying",
        30_000,
      );
      await stack.jsm.streams.add(dlqConfig);
      const dlq = await waitFor(
        () => stack.jsm.streams.getMessage("AA_DLQ", { last_by_subj: `${PREFIX}.max-deliver` }).catch(() => undefined),
        { what: "held message in the DLQ", timeoutMs: 20_000 },
      );
      assertDeadLetterOf(dlq, reply.body.eventId);
      assert.equal(dlq.header.get(DlqHeaders.deliveryCount), "5");
    } finally {
      await stack.db.pool.query("ALTER TABLE hrv_data_away RENAME TO hrv_data");
    }
  });

  test("a backlog handled in batches: one bad row and one bad payload do not fail their neighbours", async () => {
    await stack.normalize!.stop();
    const receivedAt = new Date().toISOString();
    const raw = (i: number) => ({
      eventId: `batch-${i}`,
      userId: `batch-user-${i}`,
      date: "2025-10-03",
      rmssd: 40 + (i % 50),
      receivedAt,
    });
    // The same reading (user, source, event id) already stored for another day breaks its uniqueness: non-retryable.
    await stack.db.pool.query(
      "INSERT INTO hrv_data (user_id, date, rmssd, ln_rmssd, captured_at, event_id) VALUES ('batch-user-300', '2025-10-02', 50, ln(50), now(), 'batch-taken')",
    );
    const publishes = Array.from({ length: 300 }, (_, i) =>
      stack.js.publish(HRV, JSON.stringify(raw(i)), { msgID: `batch-${i}` }),
    );
    publishes.push(
      stack.js.publish(HRV, JSON.stringify({ ...raw(300), eventId: "batch-taken" }), { msgID: "batch-taken-msg" }),
    );
    publishes.push(stack.js.publish(HRV, JSON.stringify({ eventId: "batch-garbage" }), { msgID: "batch-garbage" }));
    await Promise.all(publishes);
    await stack.startNormalize({ RETRY_BUDGET_MS: "12000" });
    await waitFor(
      async () =>
        Number(
          (
            await stack.db.pool.query(
              "SELECT count(*) AS n FROM hrv_data WHERE user_id LIKE 'batch-user-%' AND date = '2025-10-03'",
            )
          ).rows[0].n,
        ) === 300,
      { what: "300 rows", timeoutMs: 30_000 },
    );
    const conflict = await waitFor(
      () => stack.jsm.streams.getMessage("AA_DLQ", { last_by_subj: `${PREFIX}.non-retryable` }).catch(() => undefined),
      { what: "non-retryable DLQ copy" },
    );
    assert.equal(conflict.header.get(DlqHeaders.originalMsgId), "batch-taken-msg");
    const garbage = await waitFor(
      () => stack.jsm.streams.getMessage("AA_DLQ", { last_by_subj: `${PREFIX}.schema-invalid` }).catch(() => undefined),
      { what: "schema-invalid DLQ copy" },
    );
    assert.equal(garbage.header.get(DlqHeaders.originalMsgId), "batch-garbage");
    assert.deepEqual(
      (
        await stack.db.pool.query(
          "SELECT to_char(date, 'YYYY-MM-DD') AS date FROM hrv_data WHERE event_id = 'batch-taken'",
        )
      ).rows,
      [{ date: "2025-10-02" }],
    );
  });
});
