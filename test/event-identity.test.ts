import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { EventSources, readingKey, tenantSource } from "@aa/contracts";
import { aaOps, showRun } from "./helpers/cli.js";
import { createStack, postJson, streamMessages, type Stack } from "./helpers/stack.js";
import { waitFor } from "./helpers/wait.js";

const HRV = "athlete-ally.hrv.raw-received";
const HRV_STORED = "athlete-ally.hrv.normalized-stored";
const today = new Date().toISOString().slice(0, 10);
const daysAgo = (n: number) => new Date(Date.now() - n * 86_400_000).toISOString().slice(0, 10);

async function createKey(stack: Stack, tenant: string, users: string): Promise<string> {
  const run = await aaOps(
    ["keys", "create", "--json", "--name", `${tenant}-key`, "--tenant", tenant, "--users", users],
    { DATABASE_URL: stack.db.url, DATABASE_SCHEMA: stack.db.schema },
  );
  assert.equal(run.code, 0, showRun(run));
  return (JSON.parse(run.stdout) as { token: string }).token;
}

describe("a reading's identity is its kind, source, user and eventId", () => {
  let stack: Stack;
  let keyA: string;
  let keyB: string;
  const post = (kind: "hrv" | "sleep", key: string, body: Record<string, unknown>) =>
    postJson(`${stack.ingestUrl}/ingest/${kind}`, body, { authorization: `Bearer ${key}` });
  const rows = async (table: string, userId: string) =>
    (
      await stack.db.pool.query(
        `SELECT event_id, source, to_char(date, 'YYYY-MM-DD') AS date FROM ${table} WHERE user_id = $1 ORDER BY date`,
        [userId],
      )
    ).rows;
  const waitRows = (table: string, userId: string, n: number) =>
    waitFor(async () => ((await rows(table, userId)).length === n ? rows(table, userId) : undefined), {
      what: `${n} row(s) in ${table} for ${userId}`,
      timeoutMs: 20_000,
    });

  before(async () => {
    stack = await createStack({ mode: "multi" });
    await stack.startNormalize();
    await stack.startIngest({ INGEST_AUTH_MODE: "api-key", API_KEY_REFRESH_MS: "300" });
    keyA = await createKey(stack, "tenant-a", "id-a,id-u");
    keyB = await createKey(stack, "tenant-b", "id-b");
  });
  after(async () => stack.close());

  test("two tenants using the same eventId: both readings are stored, neither is a duplicate", async () => {
    const a = await post("hrv", keyA, { userId: "id-a", date: today, rmssd: 50, eventId: "shared-X" });
    const b = await post("hrv", keyB, { userId: "id-b", date: today, rmssd: 60, eventId: "shared-X" });
    assert.equal(a.status, 202, JSON.stringify(a.body));
    assert.equal(b.status, 202, JSON.stringify(b.body));
    assert.equal(b.body.duplicate, undefined, "B's reading is not A's duplicate");
    assert.equal(b.body.eventId, "shared-X", "the client sees its own eventId");
    assert.deepEqual(await waitRows("hrv_data", "id-a", 1), [
      { event_id: "shared-X", source: "tenant:tenant-a", date: today },
    ]);
    assert.deepEqual(await waitRows("hrv_data", "id-b", 1), [
      { event_id: "shared-X", source: "tenant:tenant-b", date: today },
    ]);
  });

  test("the source comes from the credential: a body that names one is refused", async () => {
    const forged = await post("hrv", keyB, {
      userId: "id-b",
      date: today,
      rmssd: 60,
      eventId: "forge-1",
      source: "tenant:tenant-a",
    });
    assert.equal(forged.status, 400, JSON.stringify(forged.body));
    assert.match(JSON.stringify(forged.body.details), /source/);
  });

  test("a retry inside the scope is still a duplicate, stored once", async () => {
    const body = { userId: "id-a", date: daysAgo(1), rmssd: 51, eventId: "retry-1" };
    assert.equal((await post("hrv", keyA, body)).status, 202);
    const retry = await post("hrv", keyA, body);
    assert.equal(retry.status, 202);
    assert.equal(retry.body.duplicate, true, JSON.stringify(retry.body));
    const key = readingKey({ kind: "hrv", source: tenantSource("tenant-a"), userId: "id-a", eventId: "retry-1" });
    const stored = await stack.jsm.streams.getMessage("AA_CORE_HOT", { last_by_subj: HRV });
    assert.equal(stored?.header.get("Nats-Msg-Id"), key, "the Nats-Msg-Id is the scoped key");
    assert.ok(!key.includes("id-a"), "the message id carries no user id");
  });

  test("the same user's HRV and sleep readings with one eventId are two readings", async () => {
    const hrv = await post("hrv", keyA, { userId: "id-a", date: daysAgo(2), rmssd: 52, eventId: "id-a-day" });
    const sleep = await post("sleep", keyA, {
      userId: "id-a",
      date: daysAgo(2),
      durationMinutes: 420,
      eventId: "id-a-day",
    });
    assert.equal(hrv.status, 202);
    assert.equal(sleep.status, 202);
    assert.equal(sleep.body.duplicate, undefined, JSON.stringify(sleep.body));
    assert.deepEqual(await waitRows("sleep_data", "id-a", 1), [
      { event_id: "id-a-day", source: "tenant:tenant-a", date: daysAgo(2) },
    ]);
  });

  test("past the duplicate window the database does not confuse two tenants' readings either", async () => {
    // As if tenant-b's reading arrived after the 2-minute window: a new message, the same eventId as tenant-a's row.
    await post("hrv", keyA, { userId: "id-u", date: daysAgo(3), rmssd: 53, eventId: "late-X" });
    await waitRows("hrv_data", "id-u", 1);
    const event = {
      userId: "id-u",
      date: daysAgo(4),
      rmssd: 54,
      eventId: "late-X",
      receivedAt: new Date().toISOString(),
      source: tenantSource("tenant-b"),
    };
    await stack.js.publish(HRV, JSON.stringify(event), {
      msgID: readingKey({ kind: "hrv", source: event.source, userId: "id-u", eventId: "late-X" }),
    });
    const both = await waitRows("hrv_data", "id-u", 2);
    assert.deepEqual(
      both.map((r) => r.source),
      ["tenant:tenant-b", "tenant:tenant-a"],
    );
  });

  test("a client's eventId that looks like an Oura-derived id takes nothing from Oura", async () => {
    const ouraId = "oura:hrv:doc-1:2025-10-02T07:30:00.000Z";
    assert.equal(
      (await post("hrv", keyA, { userId: "id-u", date: daysAgo(5), rmssd: 55, eventId: ouraId })).status,
      202,
    );
    await waitRows("hrv_data", "id-u", 3);
    // What normalize's Oura consumer publishes for the same user (another day): source vendor:oura.
    const event = {
      userId: "id-u",
      date: daysAgo(6),
      rmssd: 56,
      eventId: ouraId,
      capturedAt: new Date().toISOString(),
      receivedAt: new Date().toISOString(),
      source: EventSources.oura,
    };
    const ack = await stack.js.publish(HRV, JSON.stringify(event), {
      msgID: readingKey({ kind: "hrv", source: EventSources.oura, userId: "id-u", eventId: ouraId }),
    });
    assert.equal(ack.duplicate, false);
    const stored = await waitRows("hrv_data", "id-u", 4);
    assert.deepEqual(
      stored.filter((r) => r.event_id === ouraId).map((r) => r.source),
      ["vendor:oura", "tenant:tenant-a"],
    );
  });
});

describe("rolling upgrade: events of the previous release and of this one", () => {
  let stack: Stack;
  let key: string;
  before(async () => {
    stack = await createStack({ mode: "multi" });
    await stack.startNormalize();
    await stack.startIngest({ INGEST_AUTH_MODE: "api-key", API_KEY_REFRESH_MS: "300" });
    key = await createKey(stack, "tenant-r", "id-r1,id-r2");
  });
  after(async () => stack.close());

  const announcements = () => streamMessages(stack.jsm, "AA_CORE_HOT", HRV_STORED);
  const rowsOf = async (userId: string) =>
    (await stack.db.pool.query("SELECT event_id, source, rmssd FROM hrv_data WHERE user_id = $1", [userId])).rows;
  /** What the previous ingest published: no `source`, the client's eventId as the Nats-Msg-Id. */
  const publishOld = (userId: string, eventId: string, capturedAt: string) =>
    stack.js.publish(
      HRV,
      JSON.stringify({ userId, date: today, rmssd: 61, capturedAt, eventId, receivedAt: new Date().toISOString() }),
      { msgID: eventId },
    );
  const postNew = (userId: string, eventId: string, capturedAt: string) =>
    postJson(
      `${stack.ingestUrl}/ingest/hrv`,
      { userId, date: today, rmssd: 61, capturedAt, eventId },
      { authorization: `Bearer ${key}` },
    );

  for (const [name, userId, first, second] of [
    ["accepted by the old ingest, retried to the new one", "id-r1", "old", "new"],
    ["accepted by the new ingest, retried to the old one", "id-r2", "new", "old"],
  ] as const) {
    test(`${name}: stored once and announced once`, async () => {
      const capturedAt = new Date(Date.now() - 60_000).toISOString();
      const before = await announcements();
      const send = (which: "old" | "new") =>
        which === "old" ? publishOld(userId, `up-${userId}`, capturedAt) : postNew(userId, `up-${userId}`, capturedAt);
      await send(first);
      await waitFor(async () => (await rowsOf(userId)).length === 1, { what: "first row" });
      const stored = await rowsOf(userId);
      await send(second);
      // The second copy is in the stream; wait until normalize has consumed everything, then compare.
      await waitFor(
        async () =>
          (await stack.jsm.consumers.info("AA_CORE_HOT", "normalize-hrv-durable")).num_ack_pending === 0 &&
          (await stack.jsm.consumers.info("AA_CORE_HOT", "normalize-hrv-durable")).num_pending === 0,
        { what: "durable drained" },
      );
      assert.deepEqual(await rowsOf(userId), stored, "the row is unchanged");
      assert.equal(await announcements(), before + 1, "one normalized-stored announcement");
    });
  }
});
