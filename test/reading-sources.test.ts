import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { EventSources, readingKey } from "@aa/contracts";
import { aaOps, showRun } from "./helpers/cli.js";
import { createStack, postJson, type Stack } from "./helpers/stack.js";
import { waitFor } from "./helpers/wait.js";

const HRV = "athlete-ally.hrv.raw-received";
const today = new Date().toISOString().slice(0, 10);
const inHours = (h: number) => new Date(Date.now() + h * 3_600_000).toISOString();

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
  const rowsOf = async (userId: string) =>
    (
      await stack.db.pool.query<{ source: string; event_id: string; rmssd: number }>(
        "SELECT source, event_id, rmssd FROM hrv_data WHERE user_id = $1 AND date = $2 ORDER BY source",
        [userId, today],
      )
    ).rows;
  const drained = () =>
    waitFor(
      async () => {
        const info = await stack.jsm.consumers.info("AA_CORE_HOT", "normalize-hrv-durable");
        return info.num_pending === 0 && info.num_ack_pending === 0;
      },
      { what: "the HRV durable drained" },
    );

  before(async () => {
    stack = await createStack({ mode: "multi" });
    await stack.startNormalize();
    await stack.startIngest({ INGEST_AUTH_MODE: "api-key", API_KEY_REFRESH_MS: "300" });
    wildcard = await createKey(stack, "bridge-x", ["--all-users"]);
    tenant = await createKey(stack, "clinic-y", ["--users", "victim"]);
  });
  after(async () => stack.close());

  test("a capturedAt a day ahead from one key leaves another tenant's and Oura's later readings visible", async () => {
    const early = await post(wildcard, {
      userId: "victim",
      date: today,
      rmssd: 11,
      capturedAt: inHours(23),
      eventId: "x-1",
    });
    assert.equal(early.status, 202, JSON.stringify(early.body));
    await waitFor(async () => (await rowsOf("victim")).length === 1, { what: "the wildcard key's row" });

    const later = await post(tenant, {
      userId: "victim",
      date: today,
      rmssd: 42,
      capturedAt: inHours(0),
      eventId: "y-1",
    });
    assert.equal(later.status, 202, JSON.stringify(later.body));
    // What normalize's Oura consumer publishes for the same user and day.
    const oura = { userId: "victim", date: today, rmssd: 57, eventId: "oura:hrv:doc-9", source: EventSources.oura };
    const event = { ...oura, capturedAt: inHours(0), receivedAt: inHours(0) };
    await stack.js.publish(HRV, JSON.stringify(event), {
      msgID: readingKey({ kind: "hrv", source: oura.source, userId: "victim", eventId: oura.eventId }),
    });

    const rows = await waitFor(async () => ((await rowsOf("victim")).length === 3 ? rowsOf("victim") : undefined), {
      what: "one row per source for the day",
    });
    assert.deepEqual(rows, [
      { source: "tenant:bridge-x", event_id: "x-1", rmssd: 11 },
      { source: "tenant:clinic-y", event_id: "y-1", rmssd: 42 },
      { source: "vendor:oura", event_id: "oura:hrv:doc-9", rmssd: 57 },
    ]);
    // The runbook's query runs as written and shows the newest row written.
    const runbook = await stack.db.pool.query(
      "SELECT user_id, date, rmssd, ln_rmssd, created_at FROM hrv_data WHERE user_id = 'victim' ORDER BY created_at DESC LIMIT 1",
    );
    assert.equal(runbook.rowCount, 1);
  });

  test("within one source the newest capturedAt still wins, and an older reading changes nothing", async () => {
    const send = (eventId: string, rmssd: number, capturedAt: string) =>
      post(tenant, { userId: "victim", date: today, rmssd, capturedAt, eventId });
    assert.equal((await send("y-2", 43, inHours(-1))).status, 202, "older than y-1");
    assert.equal((await send("y-3", 44, inHours(0.01))).status, 202, "newer than y-1");
    await drained();
    const mine = (await rowsOf("victim")).filter((r) => r.source === "tenant:clinic-y");
    assert.deepEqual(mine, [{ source: "tenant:clinic-y", event_id: "y-3", rmssd: 44 }]);
  });
});
