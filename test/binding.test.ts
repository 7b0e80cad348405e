import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { AckPolicy, DeliverPolicy } from "@nats-io/jetstream";
import { pino } from "pino";
import {
  ConsumerBindingError,
  resolveBindings,
  toStreamConfig,
  topologyFor,
  DEFAULT_TOPOLOGY_NAMES,
} from "@aa/event-bus";
import { createStack, getJson, postJson, type Stack } from "./helpers/stack.js";
import { startService } from "./helpers/service.js";
import { waitFor } from "./helpers/wait.js";

const HRV = "athlete-ally.hrv.raw-received";
const names = DEFAULT_TOPOLOGY_NAMES;
const legacySpec = topologyFor("single", names, 1).streams[0]!;
const coreSpec = topologyFor("multi", names, 1).streams[0]!;
const hrvConsumer = {
  durable_name: "normalize-hrv-durable",
  filter_subject: HRV,
  ack_policy: AckPolicy.Explicit,
  deliver_policy: DeliverPolicy.All,
  max_deliver: 5,
};
// normalize refuses to start without every durable it consumes, so each scenario has the sleep durable beside the HRV one.
const SLEEP = "athlete-ally.sleep.raw-received";
const sleepConsumer = { ...hrvConsumer, durable_name: "normalize-sleep-durable", filter_subject: SLEEP };

function capture() {
  const lines: string[] = [];
  const logger = pino({ level: "debug" }, { write: (line: string) => lines.push(String(JSON.parse(line).msg)) });
  return { logger, lines };
}

/** resolveBindings as normalize runs it for HRV (the core stream, then legacy), with its log lines. */
async function bindHrv(stack: Stack, durable = "normalize-hrv-durable") {
  const { logger, lines } = capture();
  const candidates = [names.core, names.legacy];
  const options = { jsm: stack.jsm, logger, candidates, durable, filterSubject: HRV, label: "HRV", tag: "normalize" };
  return { bindings: await resolveBindings(options), lines };
}

describe("consumer binding", () => {
  let stack: Stack;
  before(async () => {
    stack = await createStack({ mode: "multi", topology: false });
  });
  after(async () => stack.close());

  test("multi mode before the cutover falls back to the legacy stream and still stores events", async () => {
    await stack.jsm.streams.add(toStreamConfig(legacySpec));
    await stack.jsm.streams.add(toStreamConfig(topologyFor("multi", names, 1).streams[2]!));
    await stack.jsm.consumers.add(names.legacy, hrvConsumer);
    await stack.jsm.consumers.add(names.legacy, sleepConsumer);
    const normalize = await stack.startNormalize();
    await normalize.waitForLog("[normalize] Found existing HRV consumer on ATHLETE_ALLY_EVENTS: normalize-hrv-durable");
    const log = normalize.messages();
    assert.ok(
      log.some((m) =>
        m.startsWith(
          "[normalize] Stream AA_CORE_HOT (for consumer normalize-hrv-durable) not found on AA_CORE_HOT. Trying next candidate.",
        ),
      ),
      log.join("\n"),
    );
    await stack.startIngest();
    await postJson(`${stack.ingestUrl}/ingest/hrv`, { userId: "fallback", date: "2025-10-02", rmssd: 55 });
    await waitFor(
      async () => (await stack.db.pool.query("SELECT 1 FROM hrv_data WHERE user_id = 'fallback'")).rowCount === 1,
      { what: "row via legacy" },
    );
    await stack.ingest!.stop();
    await normalize.stop();
  });

  test("a durable on a stream that lost its subject is drain-only, and health says degraded", async () => {
    // Simulate the cutover: the legacy stream gives up athlete-ally.> to AA_CORE_HOT, one message still pending there.
    await stack.js.publish(
      HRV,
      JSON.stringify({
        eventId: "left-behind",
        userId: "drain",
        date: "2025-10-01",
        rmssd: 50,
        receivedAt: new Date().toISOString(),
      }),
      { msgID: "left-behind" },
    );
    await stack.js.publish(
      SLEEP,
      JSON.stringify({
        eventId: "left-behind-sleep",
        userId: "drain",
        date: "2025-10-01",
        durationMinutes: 400,
        receivedAt: new Date().toISOString(),
      }),
      { msgID: "left-behind-sleep" },
    );
    await stack.jsm.streams.update(names.legacy, { ...toStreamConfig(legacySpec), subjects: ["vendor.>"] });
    const { bindings, lines } = await bindHrv(stack);
    assert.deepEqual(
      bindings.map((b) => [b.stream, b.role]),
      [[names.legacy, "drain_only"]],
    );
    assert.ok(
      lines.some((l) =>
        l.includes(
          "is drain-only: ATHLETE_ALLY_EVENTS no longer owns athlete-ally.hrv.raw-received (owned by no stream)",
        ),
      ),
      lines.join("\n"),
    );
    assert.ok(lines.some((l) => l.includes("new HRV events will not be consumed")));

    const normalize = await stack.startNormalize();
    await waitFor(
      async () => (await stack.db.pool.query("SELECT 1 FROM hrv_data WHERE user_id = 'drain'")).rowCount === 1,
      { what: "drained row" },
    );
    const health = await getJson(`${stack.normalizeUrl}/health`);
    assert.equal(health.status, 503);
    assert.equal(health.body.status, "degraded");
    const metrics = await (await fetch(`${stack.normalizeUrl}/metrics`)).text();
    assert.match(
      metrics,
      /^event_bus_consumer_bound\{durable="normalize-hrv-durable",stream="ATHLETE_ALLY_EVENTS",role="drain_only"\} 1$/m,
    );
    await normalize.stop();
  });

  test("ingest with no stream owning a subject names the deployed tool and the runbook script", async () => {
    // athlete-ally.> has had no owner since the previous test's cutover.
    const ingest = await stack.startIngest();
    const line = ingest.messages().find((m) => m.startsWith(`[ingest] No stream owns ${HRV}`));
    assert.ok(line?.includes("Create streams with: npx aa-ops topology apply --mode multi"), ingest.lines.join("\n"));
    assert.ok(line?.includes("docs/phase-3/ops/create-streams.js"), line);
    await ingest.stop();
  });

  test("the owning stream is primary and the old one drains beside it", async () => {
    await stack.jsm.streams.add(toStreamConfig(coreSpec));
    await stack.jsm.consumers.add(names.core, hrvConsumer);
    await stack.jsm.consumers.add(names.core, sleepConsumer);
    // The previous test stored the row, but its normalized-stored announcement had no stream
    // (nobody owned athlete-ally.> then), so the message is still unacknowledged on legacy.
    const { bindings, lines } = await bindHrv(stack);
    assert.deepEqual(
      bindings.map((b) => [b.stream, b.role]),
      [
        [names.core, "primary"],
        [names.legacy, "drain_only"],
      ],
    );
    assert.ok(lines.includes("[normalize] Found existing HRV consumer on AA_CORE_HOT: normalize-hrv-durable"));

    const normalize = await stack.startNormalize();
    await waitFor(
      async () => {
        const info = await stack.jsm.consumers.info(names.legacy, "normalize-hrv-durable");
        return info.num_pending + info.num_ack_pending === 0;
      },
      { what: "legacy durable drained", timeoutMs: 30_000 },
    );
    const health = await getJson(`${stack.normalizeUrl}/health`);
    assert.equal(health.status, 200, JSON.stringify(health.body));
    const hrvBindings = (health.body.consumers as { durable: string; stream: string; role: string }[]).filter(
      (c) => c.durable === "normalize-hrv-durable",
    );
    assert.deepEqual(
      hrvBindings.map((c) => [c.stream, c.role]),
      [
        [names.core, "primary"],
        [names.legacy, "drain_only"],
      ],
    );
    await normalize.stop();
  });

  test("no durable on any candidate: the runbook's error and a non-zero exit", async () => {
    await assert.rejects(
      bindHrv(stack, "missing-durable"),
      (error: Error) =>
        error instanceof ConsumerBindingError &&
        error.message.includes("Failed to find HRV consumer on any available stream") &&
        error.message.includes("npx aa-ops topology apply"),
    );
    const normalize = startService("normalize", { ...stack.env, PORT: "0", NORMALIZE_HRV_DURABLE: "missing-durable" });
    assert.notEqual(await normalize.exited, 0);
    assert.ok(
      normalize.messages().some((m) => m.includes("Failed to find HRV consumer on any available stream")),
      normalize.lines.join("\n"),
    );
  });

  test("an invalid EVENT_STREAM_MODE is a startup error naming the value", async () => {
    for (const service of ["normalize", "ingest"] as const) {
      const child = startService(service, { ...stack.env, PORT: "0", EVENT_STREAM_MODE: "mutli" });
      assert.equal(await child.exited, 1);
      assert.ok(
        child.messages().some((m) => m.includes('Invalid EVENT_STREAM_MODE="mutli": expected "single" or "multi"')),
        child.lines.join("\n"),
      );
    }
  });

  test("with FEATURE_SERVICE_MANAGES_CONSUMERS a missing durable is created, an ops-set one is left alone", async () => {
    await stack.jsm.consumers.update(names.core, "normalize-hrv-durable", { max_deliver: 7 });
    const normalize = await stack.startNormalize({ FEATURE_SERVICE_MANAGES_CONSUMERS: "true" });
    await normalize.waitForLog("differs from the spec; left as ops configured it");
    assert.equal((await stack.jsm.consumers.info(names.core, "normalize-hrv-durable")).config.max_deliver, 7);
    await normalize.stop();
    await stack.jsm.consumers.delete(names.core, "normalize-hrv-durable");
    const again = await stack.startNormalize({ FEATURE_SERVICE_MANAGES_CONSUMERS: "true" });
    await again.waitForLog("Created HRV consumer normalize-hrv-durable on AA_CORE_HOT");
    assert.equal((await stack.jsm.consumers.info(names.core, "normalize-hrv-durable")).config.max_deliver, 5);
    await again.stop();
  });
});
