import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { EventSources, readingKey } from "@aa/contracts";
import { aaOps, showRun } from "./helpers/cli.js";
import { createStack, postJson, type Stack } from "./helpers/stack.js";
import { waitFor } from "./helpers/wait.js";

const HRV = "athlete-ally.hrv.raw-received";
const today = new Date().toISOString().slice(0, 10);
const inMinutes = (m: number) => new Date(Date.now() + m * 60_000).toISOString();

async function createKey(stack: Stack, tenant: string, scope: string[]): Promise<string> {
  const run = await aaOps(["keys", "create", "--json", "--name", `${tenant}-key`, "--tenant", tenant, ...scope], {
    DATABASE_URL: stack.db.url,
    DATABASE_SCHEMA: stack.db.schema,
  });
  assert.equal(run.code, 0, showRun(run));
  return (JSON.parse(run.stdout) as { token: string }).token;
}

describe("no credential can hide another source's readings", () => {
  let stack: Stack;
  let wildcard: string;
  let tenant: string;
  const post = (key: string, body: Record<string, unknown>) =>
    postJson(`${stack.ingestUrl}/ingest/hrv`, body, { authorization: `Bearer ${key}` });
  const rowOf = async (userId: string) =>
    (
      await stack.db.pool.query<{ source: string; event_id: string; rmssd: number }>(
        "SELECT source, event_id, rmssd FROM hrv_data WHERE user_id = $1 AND date = $2",
        [userId, today],
      )
    ).rows;
  const rowHolds = (userId: string, eventId: string) =>
    waitFor(async () => (await rowOf(userId))[0]?.event_id === eventId, { what: `the row holding ${eventId}` });
  const drained = () =>
    waitFor(
      async () => {
        const info = await stack.jsm.consumers.info("AA_CORE_HOT", "normalize-hrv-durable");
        return info.num_pending === 0 && info.num_ack_pending === 0;
      },
      { what: "the HRV durable drained" },
    );
  // What normalize's Oura consumer publishes for a user and day; `msgID` new, as a replay from the DLQ would be.
  const publishOura = (event: Record<string, unknown>) =>
    stack.js.publish(HRV, JSON.stringify(event), {
      msgID: `${readingKey({ kind: "hrv", source: EventSources.oura, userId: "victim", eventId: String(event.eventId) })}:${randomUUID()}`,
    });

  before(async () => {
    stack = await createStack({ mode: "multi" });
    await stack.startNormalize();
    await stack.startIngest({ INGEST_AUTH_MODE: "api-key", API_KEY_REFRESH_MS: "300" });
    wildcard = await createKey(stack, "bridge-x", ["--all-users"]);
    tenant = await createKey(stack, "clinic-y", ["--users", "victim"]);
  });
  after(async () => stack.close());

  test("a capturedAt a day ahead is refused at ingest with a 400 naming the field and the bound", async () => {
    const ahead = await post(wildcard, { userId: "victim", date: today, rmssd: 11, capturedAt: inMinutes(24 * 60) });
    assert.equal(ahead.status, 400, JSON.stringify(ahead.body));
    const details = ahead.body.details as { field: string; message: string }[];
    assert.deepEqual(
      details.map((d) => d.field),
      ["capturedAt"],
    );
    assert.match(details[0]?.message ?? "", /more than 5 minutes after the time received \(at most 20\d\d-/);
    const batch = await postJson(
      `${stack.ingestUrl}/ingest/hrv/batch`,
      { items: [{ userId: "victim", date: today, rmssd: 11, capturedAt: inMinutes(24 * 60) }] },
      { authorization: `Bearer ${wildcard}` },
    );
    assert.equal(batch.status, 207, JSON.stringify(batch.body));
    assert.equal(batch.body.rejected, 1);
  });

  test("across sources the later-received reading wins, even with an older capturedAt", async () => {
    // The furthest ahead a source can still claim: within the clock skew.
    const early = await post(wildcard, {
      userId: "victim",
      date: today,
      rmssd: 11,
      capturedAt: inMinutes(4),
      eventId: "x-1",
    });
    assert.equal(early.status, 202, JSON.stringify(early.body));
    await rowHolds("victim", "x-1");

    const oura = {
      userId: "victim",
      date: today,
      rmssd: 57,
      eventId: "oura:hrv:doc-9",
      source: EventSources.oura,
      capturedAt: inMinutes(-180),
      receivedAt: new Date().toISOString(),
    };
    await publishOura(oura);
    await rowHolds("victim", "oura:hrv:doc-9");

    const later = await post(tenant, {
      userId: "victim",
      date: today,
      rmssd: 42,
      capturedAt: inMinutes(-120),
      eventId: "y-1",
    });
    assert.equal(later.status, 202, JSON.stringify(later.body));
    await rowHolds("victim", "y-1");

    // The Oura event delivered again (received before y-1): it changes nothing.
    await publishOura(oura);
    await drained();
    assert.deepEqual(await rowOf("victim"), [{ source: "tenant:clinic-y", event_id: "y-1", rmssd: 42 }]);
  });

  test("within one source the newest capturedAt wins, and its older reading received later changes nothing", async () => {
    const send = (eventId: string, rmssd: number, capturedAt: string) =>
      post(tenant, { userId: "victim", date: today, rmssd, capturedAt, eventId });
    assert.equal((await send("y-2", 43, inMinutes(-150))).status, 202, "older than y-1");
    await drained();
    assert.deepEqual(await rowOf("victim"), [{ source: "tenant:clinic-y", event_id: "y-1", rmssd: 42 }]);
    assert.equal((await send("y-3", 44, inMinutes(-60))).status, 202, "newer than y-1");
    await rowHolds("victim", "y-3");
    assert.deepEqual(await rowOf("victim"), [{ source: "tenant:clinic-y", event_id: "y-3", rmssd: 44 }]);
  });
});
