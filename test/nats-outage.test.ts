import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createStack, getJson, postJson, type Stack } from "./helpers/stack.js";
import { waitFor } from "./helpers/wait.js";

/** The value of `event_bus_nats_connected` on a service's /metrics, or undefined when it is not exported. */
async function natsConnected(baseUrl: string): Promise<number | undefined> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const value = /^event_bus_nats_connected (\S+)$/m.exec(text)?.[1];
  return value === undefined ? undefined : Number(value);
}

describe("NATS outage", () => {
  let stack: Stack;
  before(async () => {
    stack = await createStack({ mode: "multi" });
    await stack.startNormalize();
    await stack.startIngest({ PUBLISH_RETRY_BUDGET_MS: "1500" });
  });
  after(async () => stack.close());

  test("ingest answers 503 with Retry-After while NATS is down, and nothing is lost once it is back", async () => {
    await stack.nats.kill("SIGKILL");
    await waitFor(async () => (await getJson(`${stack.ingestUrl}/health`)).status === 503, {
      what: "ingest unhealthy",
    });
    assert.deepEqual((await getJson(`${stack.ingestUrl}/health`)).body, {
      status: "unhealthy",
      service: "ingest",
      eventBus: "reconnecting",
    });
    // The gauge that pages (EventBusNatsDisconnected): ingest leaves the Service, so its 503s are never counted.
    assert.equal(await natsConnected(stack.ingestUrl), 0);
    await waitFor(async () => (await natsConnected(stack.normalizeUrl)) === 0, {
      what: "normalize reports the lost connection",
    });

    const body = { userId: "outage-client", date: "2025-10-02", rmssd: 48, eventId: "outage-client-1" };
    const refused = await postJson(`${stack.ingestUrl}/ingest/hrv`, body);
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get("retry-after"), "5");
    assert.equal(refused.body.eventId, "outage-client-1");
    assert.match(String(refused.body.error), /not accepted/);

    // Longer than the client's default reconnect budget (~20 s) would be too slow for a test;
    // the services use unlimited reconnects, so any outage length behaves like this one.
    await stack.nats.start();
    await waitFor(async () => (await getJson(`${stack.ingestUrl}/health`)).status === 200, {
      what: "ingest reconnected",
      timeoutMs: 20_000,
    });
    assert.equal(await natsConnected(stack.ingestUrl), 1);
    await waitFor(async () => (await natsConnected(stack.normalizeUrl)) === 1, {
      what: "normalize reconnected",
      timeoutMs: 20_000,
    });
    const retried = await postJson(`${stack.ingestUrl}/ingest/hrv`, body);
    assert.equal(retried.status, 202);
    await waitFor(
      async () =>
        (await stack.db.pool.query("SELECT 1 FROM hrv_data WHERE event_id = 'outage-client-1'")).rowCount === 1,
      { what: "row after NATS restart", timeoutMs: 20_000 },
    );
    assert.equal((await getJson(`${stack.normalizeUrl}/health`)).status, 200);
  });

  test("SIGTERM stops normalize cleanly with exit code 0", async () => {
    const code = await stack.normalize!.stop();
    assert.equal(code, 0, stack.normalize!.lines.slice(-5).join("\n"));
    assert.ok(stack.normalize!.messages().includes("Shutting down"));
  });
});
