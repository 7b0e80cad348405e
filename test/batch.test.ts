import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { freePort } from "./helpers/nats.js";
import { startService } from "./helpers/service.js";
import { createStack, postJson, streamMessages, type Stack } from "./helpers/stack.js";
import { waitFor } from "./helpers/wait.js";

const HRV = "athlete-ally.hrv.raw-received";
const SLEEP = "athlete-ally.sleep.raw-received";

async function rows(stack: Stack, table: string, prefix: string): Promise<number> {
  return Number(
    (await stack.db.pool.query(`SELECT count(*) AS n FROM ${table} WHERE user_id LIKE $1`, [`${prefix}%`])).rows[0].n,
  );
}

describe("batch endpoints", () => {
  let stack: Stack;
  before(async () => {
    stack = await createStack({ mode: "multi" });
    await stack.startNormalize();
    await stack.startIngest();
  });
  after(async () => stack.close());

  test("each item is validated on its own: 207 with per-item results, only the valid ones published", async () => {
    const before = await streamMessages(stack.jsm, "AA_CORE_HOT", HRV);
    const items = [
      { userId: "b-1", date: "2025-10-02", rmssd: 50, eventId: "b-1" },
      { userId: "b-2", date: "2025-13-45", rmssd: 50 },
      { userId: "b-3", date: "2025-10-02", rmssd: 0 },
      { userId: "b-4", date: "2025-10-02", rmssd: 70 },
    ];
    const reply = await postJson(`${stack.ingestUrl}/ingest/hrv/batch`, { items });
    assert.equal(reply.status, 207, JSON.stringify(reply.body));
    assert.equal(reply.body.received, 2);
    assert.equal(reply.body.rejected, 2);
    const results = reply.body.results as {
      index: number;
      status: string;
      eventId?: string;
      errors?: { field: string }[];
    }[];
    assert.deepEqual(
      results.map((r) => r.status),
      ["received", "rejected", "rejected", "received"],
    );
    assert.equal(results[0]?.eventId, "b-1");
    assert.deepEqual(
      results[1]?.errors?.map((e) => e.field),
      ["date"],
    );
    assert.deepEqual(
      results[2]?.errors?.map((e) => e.field),
      ["rmssd"],
    );
    assert.equal(await streamMessages(stack.jsm, "AA_CORE_HOT", HRV), before + 2);
    await waitFor(async () => (await rows(stack, "hrv_data", "b-")) === 2, { what: "two rows" });

    const again = await postJson(`${stack.ingestUrl}/api/v1/ingest/hrv/batch`, { items: [items[0]] });
    assert.equal(again.status, 202);
    assert.deepEqual((again.body.results as unknown[])[0], {
      index: 0,
      status: "received",
      eventId: "b-1",
      duplicate: true,
    });
  });

  test("1,000 readings in one request: 202 after every PubAck, 1,000 rows", async () => {
    const items = Array.from({ length: 1000 }, (_, i) => ({
      userId: `big-${i}`,
      date: "2025-10-02",
      durationMinutes: 400 + (i % 60),
      qualityScore: i % 100,
      eventId: `big-${i}`,
    }));
    const reply = await postJson(`${stack.ingestUrl}/ingest/sleep/batch`, { items });
    assert.equal(reply.status, 202, JSON.stringify(reply.body).slice(0, 300));
    assert.equal(reply.body.received, 1000);
    assert.equal((await streamMessages(stack.jsm, "AA_CORE_HOT", SLEEP)) >= 1000, true);
    await waitFor(async () => (await rows(stack, "sleep_data", "big-")) === 1000, {
      what: "1000 rows",
      timeoutMs: 30_000,
    });
  });

  test("a body that is not {items: [1..1000 readings]} is a 400 and nothing is published", async () => {
    const before = await streamMessages(stack.jsm, "AA_CORE_HOT", HRV);
    for (const body of [
      [{ userId: "x", date: "2025-10-02", rmssd: 5 }],
      { items: [] },
      { items: "no" },
      { items: [{}], extra: 1 },
      { items: Array.from({ length: 1001 }, () => ({})) },
    ]) {
      const reply = await postJson(`${stack.ingestUrl}/ingest/hrv/batch`, body);
      assert.equal(reply.status, 400, JSON.stringify(body).slice(0, 80));
      assert.equal((reply.body.details as { field: string }[])[0]?.field, "(body)");
    }
    assert.equal(await streamMessages(stack.jsm, "AA_CORE_HOT", HRV), before);
  });

  test("past PUBLISH_MAX_IN_FLIGHT items are refused (503, Retry-After) rather than queued; retried with their ids they are stored once", async () => {
    const port = String(await freePort());
    const tight = startService("ingest", { ...stack.env, PORT: port, PUBLISH_MAX_IN_FLIGHT: "1" });
    try {
      await tight.waitForLog("[ingest] Listening on");
      let items = Array.from({ length: 50 }, (_, i) => ({
        userId: `bp-${i}`,
        date: "2025-10-02",
        rmssd: 55,
        eventId: `bp-${i}`,
      }));
      const first = await postJson(`http://127.0.0.1:${port}/ingest/hrv/batch`, { items });
      assert.equal(first.status, 503);
      assert.equal(first.headers.get("retry-after"), "5");
      assert.ok(
        Number(first.body.unavailable) > 0 && Number(first.body.received) > 0,
        JSON.stringify(first.body).slice(0, 200),
      );
      for (let attempt = 0; attempt < 100 && items.length > 0; attempt++) {
        const reply = await postJson(`http://127.0.0.1:${port}/ingest/hrv/batch`, { items });
        const left = new Set(
          (reply.body.results as { index: number; status: string }[])
            .filter((r) => r.status === "unavailable")
            .map((r) => r.index),
        );
        items = items.filter((_, i) => left.has(i));
      }
      assert.equal(items.length, 0);
      await waitFor(async () => (await rows(stack, "hrv_data", "bp-")) === 50, { what: "50 rows" });
    } finally {
      await tight.stop();
    }
  });
});

describe("ANNOUNCE_STORED=false", () => {
  let stack: Stack;
  before(async () => {
    stack = await createStack({ mode: "multi" });
    await stack.startNormalize({ ANNOUNCE_STORED: "false" });
    await stack.startIngest();
  });
  after(async () => stack.close());

  test("readings are stored, in batches and one by one, and nothing is announced", async () => {
    await stack.normalize!.waitForLog("[normalize] ANNOUNCE_STORED=false: stored readings are not announced");
    const items = Array.from({ length: 20 }, (_, i) => ({ userId: `quiet-${i}`, date: "2025-10-02", rmssd: 40 + i }));
    assert.equal((await postJson(`${stack.ingestUrl}/ingest/hrv/batch`, { items })).status, 202);
    assert.equal(
      (
        await postJson(`${stack.ingestUrl}/ingest/sleep`, {
          userId: "quiet-s",
          date: "2025-10-02",
          durationMinutes: 400,
        })
      ).status,
      202,
    );
    await waitFor(
      async () => (await rows(stack, "hrv_data", "quiet-")) === 20 && (await rows(stack, "sleep_data", "quiet-")) === 1,
      { what: "21 rows" },
    );
    // Acked after the commit: once nothing is pending, an announcement would have been published already.
    await waitFor(
      async () => (await stack.jsm.consumers.info("AA_CORE_HOT", "normalize-hrv-durable")).num_ack_pending === 0,
      { what: "all acked" },
    );
    assert.equal(await streamMessages(stack.jsm, "AA_CORE_HOT", "athlete-ally.hrv.normalized-stored"), 0);
    assert.equal(await streamMessages(stack.jsm, "AA_CORE_HOT", "athlete-ally.sleep.normalized-stored"), 0);
    assert.equal(await streamMessages(stack.jsm, "AA_CORE_HOT", HRV), 20);
  });
});
