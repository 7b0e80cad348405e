import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { headers as natsHeaders } from "@nats-io/nats-core";
import { aaOps, showRun } from "./helpers/cli.js";
import { dlqSeqs } from "./helpers/dlq.js";
import { SpanKinds, startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from "./helpers/otlp-receiver.js";
import { createStack, postJson, type Stack } from "./helpers/stack.js";
import { waitFor } from "./helpers/wait.js";

const HRV = "athlete-ally.hrv.raw-received";
const hex = (bytes: number) => randomBytes(bytes).toString("hex");
const traceparentOf = (traceId: string, spanId: string) => `00-${traceId}-${spanId}-01`;

/** The span tree of one trace as text, for assertion messages and the closing note. */
function tree(spans: readonly ReceivedSpan[], traceId: string): string {
  const mine = spans.filter((s) => s.traceId === traceId);
  const lines: string[] = [];
  const walk = (parent: string, depth: number) => {
    for (const s of mine.filter((x) => x.parentSpanId === parent)) {
      lines.push(`${"  ".repeat(depth)}${s.service}: ${s.name} (kind ${s.kind}, ${s.encoding})`);
      walk(s.spanId, depth + 1);
    }
  };
  const roots = new Set(mine.filter((s) => !mine.some((p) => p.spanId === s.parentSpanId)).map((s) => s.parentSpanId));
  for (const root of roots) walk(root, 0);
  return lines.join("\n");
}

describe("tracing: one trace from the HTTP request through JetStream to the stored row or the DLQ", () => {
  const tag = hex(4);
  const userId = `trace-user-${tag}`;
  const marker = `trace-payload-${tag}`;
  let stack: Stack;
  let receiver: OtlpReceiver;
  let normalizeEnv: Record<string, string>;
  const spansOf = (traceId: string) => receiver.spans.filter((s) => s.traceId === traceId);
  const one = (spans: readonly ReceivedSpan[], what: string, match: (s: ReceivedSpan) => boolean) => {
    const found = spans.filter(match);
    assert.equal(found.length, 1, `one ${what}, found ${found.length}`);
    return found[0]!;
  };

  before(async () => {
    receiver = await startOtlpReceiver();
    stack = await createStack({ mode: "multi" });
    // A short batch delay so spans arrive within the test's patience; each service one encoding.
    const otel = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: "100" };
    normalizeEnv = {
      ...otel,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_SERVICE_NAME: `normalize-under-test-${tag}`,
    };
    await stack.startNormalize(normalizeEnv);
    await stack.startIngest({ ...otel, OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf" });
  });
  after(async () => {
    await stack?.close();
    await receiver?.close();
  });

  test("a reading posted with a traceparent: ingest's server and producer spans, normalize's consumer, database and announcement spans share its trace", async () => {
    const [traceId, callerSpanId] = [hex(16), hex(8)];
    const posted = await postJson(
      `${stack.ingestUrl}/ingest/hrv`,
      { userId, date: "2025-10-02", rmssd: 55, raw: { device: marker } },
      { traceparent: traceparentOf(traceId, callerSpanId) },
    );
    assert.equal(posted.status, 202, JSON.stringify(posted.body));
    const want = ["server", "publish raw", "consume", "write", "publish stored"];
    const spans = await waitFor(
      () => {
        const now = spansOf(traceId);
        return now.length >= want.length &&
          now.some((s) => s.name.startsWith("INSERT")) &&
          now.filter((s) => s.kind === SpanKinds.producer).length >= 2
          ? now
          : undefined;
      },
      { timeoutMs: 20_000, what: `the spans of trace ${traceId}` },
    ).catch((error: Error) =>
      assert.fail(`${error.message}\nso far:\n${tree(receiver.spans, traceId)}\nerrors: ${receiver.errors.join("; ")}`),
    );
    const shape = tree(receiver.spans, traceId);
    console.log(`span tree of one reading:\n${shape}`);

    const server = one(spans, "ingest server span", (s) => s.kind === SpanKinds.server);
    assert.deepEqual(
      [
        server.service,
        server.parentSpanId,
        server.name,
        server.attributes["http.route"],
        server.attributes["http.response.status_code"],
        server.encoding,
      ],
      ["ingest-service", callerSpanId, "POST /ingest/hrv", "/ingest/hrv", 202, "protobuf"],
    );
    const producer = one(
      spans,
      "ingest producer span",
      (s) => s.kind === SpanKinds.producer && s.service === "ingest-service",
    );
    assert.equal(producer.parentSpanId, server.spanId, "the publish is a child of the request");
    assert.deepEqual(
      [
        producer.name,
        producer.attributes["messaging.system"],
        producer.attributes["messaging.destination.name"],
        producer.attributes["messaging.nats.stream"],
      ],
      [`publish ${HRV}`, "nats", HRV, "AA_CORE_HOT"],
    );
    assert.equal(typeof producer.attributes["messaging.message.id"], "string");

    const consumer = one(spans, "normalize consumer span", (s) => s.kind === SpanKinds.consumer);
    assert.equal(consumer.service, `normalize-under-test-${tag}`, "OTEL_SERVICE_NAME overrides the default");
    assert.equal(consumer.encoding, "json");
    assert.equal(
      consumer.parentSpanId,
      producer.spanId,
      "the consumer continues the producer's context from the message headers",
    );
    assert.deepEqual(
      [
        consumer.attributes["messaging.system"],
        consumer.attributes["messaging.destination.name"],
        consumer.attributes["messaging.nats.stream"],
        consumer.attributes["messaging.consumer.group.name"],
        consumer.attributes["messaging.nats.delivery_count"],
        consumer.attributes["messaging.message.id"],
      ],
      ["nats", HRV, "AA_CORE_HOT", "normalize-hrv-durable", 1, producer.attributes["messaging.message.id"]],
    );
    const write = one(spans, "database span", (s) => s.kind === SpanKinds.client);
    assert.deepEqual(
      [write.name, write.parentSpanId, write.attributes["db.system.name"], write.attributes["db.collection.name"]],
      ["INSERT hrv_data", consumer.spanId, "postgresql", "hrv_data"],
    );
    const announced = one(
      spans,
      "announcement span",
      (s) => s.kind === SpanKinds.producer && s.parentSpanId === consumer.spanId,
    );
    assert.equal(announced.name, "publish athlete-ally.hrv.normalized-stored");

    const stored = await stack.db.pool.query("SELECT 1 FROM hrv_data WHERE user_id = $1", [userId]);
    assert.equal(stored.rowCount, 1);
    const exported = JSON.stringify(receiver.spans);
    assert.ok(!exported.includes(userId) && !exported.includes(marker), "no user id or payload in any exported span");
    assert.deepEqual(receiver.errors, []);
  });

  test("a backlog consumed as a batch: one CONSUMER span with a link to each message's trace, the batch write its child", async () => {
    await stack.normalize!.stop();
    const traces = Array.from({ length: 8 }, () => [hex(16), hex(8)] as const);
    for (const [i, [traceId, spanId]] of traces.entries()) {
      const h = natsHeaders();
      h.set("traceparent", traceparentOf(traceId, spanId));
      const event = {
        eventId: `batch-${tag}-${i}`,
        userId,
        date: `2025-09-0${i + 1}`,
        rmssd: 50 + i,
        receivedAt: new Date().toISOString(),
      };
      await stack.js.publish(HRV, JSON.stringify(event), { msgID: event.eventId, headers: h });
    }
    await stack.startNormalize(normalizeEnv);
    // Deliveries queue up as they arrive: some messages may be processed alone, the rest in batches.
    const consumers = () =>
      receiver.spans.filter((s) => s.kind === SpanKinds.consumer && s.service === `normalize-under-test-${tag}`);
    const covered = (spanId: string) =>
      consumers().some((s) => s.parentSpanId === spanId || s.links.some((l) => l.spanId === spanId));
    await waitFor(() => traces.every(([, spanId]) => covered(spanId)), {
      timeoutMs: 20_000,
      what: "a consumer span (child or link) for every message",
    }).catch((error: Error) =>
      assert.fail(`${error.message}: ${JSON.stringify(consumers().filter((s) => !s.parentSpanId))}`),
    );
    const batch = consumers().find((s) => s.links.some((l) => traces.some(([, spanId]) => spanId === l.spanId)));
    assert.ok(batch, "at least two of the eight were consumed as a batch");
    const count = Number(batch.attributes["messaging.batch.message_count"]);
    assert.ok(count >= 2 && batch.links.length === count, `a link per message: ${JSON.stringify(batch)}`);
    assert.ok(
      batch.links.every((l) => traces.some(([traceId, spanId]) => l.traceId === traceId && l.spanId === spanId)),
      "each link is the context its message carried",
    );
    assert.equal(batch.parentSpanId, "", "a batch has many parents: it starts a trace of its own");
    const write = await waitFor(
      () => receiver.spans.find((s) => s.kind === SpanKinds.client && s.parentSpanId === batch.spanId),
      { what: "the batch write span" },
    );
    assert.equal(write.attributes["db.operation.batch.size"], count);
  });

  // Disabled wins over a configured endpoint; without an endpoint no SDK is started at all.
  const untraced: [string, () => Record<string, string>, string][] = [
    [
      "OTEL_SDK_DISABLED=true",
      () => ({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SDK_DISABLED: "true" }),
      "Tracing off (OTEL_SDK_DISABLED=true)",
    ],
    ["no OTLP endpoint", () => ({}), "Tracing off: no OTLP endpoint set"],
  ];
  for (const [what, env, line] of untraced) {
    test(`${what}: no SDK, so no span, no trace context put into the message, no trace ids in the logs`, async () => {
      await stack.ingest!.stop();
      const ingest = await stack.startIngest(env());
      await ingest.waitForLog(`[ingest-service] ${line}`);
      const [traceId, callerSpanId] = [hex(16), hex(8)];
      const seen = await stack.js.publish("athlete-ally.hrv.normalized-stored", "{}"); // the stream position before ours
      const date = what.startsWith("no") ? "2025-08-02" : "2025-08-01";
      const posted = await postJson(
        `${stack.ingestUrl}/ingest/hrv`,
        { userId, date, rmssd: 60 },
        { traceparent: traceparentOf(traceId, callerSpanId) },
      );
      assert.equal(posted.status, 202);
      const raw = await waitFor(
        async () => {
          const message = await stack.jsm.streams.getMessage("AA_CORE_HOT", { last_by_subj: HRV });
          return message && message.seq > seen.seq ? message : undefined;
        },
        { what: "the reading in the stream" },
      );
      assert.equal(raw.header?.get("traceparent") ?? "", "", "nothing injected");
      // normalize (exporting) starts a trace of its own for it; nothing arrives under the caller's trace id.
      const stored = async () =>
        (await stack.db.pool.query("SELECT 1 FROM hrv_data WHERE user_id = $1 AND date = $2", [userId, date]))
          .rowCount === 1;
      await waitFor(stored, { what: "the row" });
      assert.deepEqual(spansOf(traceId), []);
      assert.ok(!ingest.lines.some((l) => l.includes('"trace_id"')), "no trace ids in ingest's log");
    });
  }

  test("a poison message: the DLQ copy carries the trace, the dead-letter log line its ids, and a replay continues it", async () => {
    const [traceId, callerSpanId] = [hex(16), hex(8)];
    const h = natsHeaders();
    h.set("traceparent", traceparentOf(traceId, callerSpanId));
    await stack.jsm.streams.purge("AA_DLQ");
    await stack.js.publish(
      HRV,
      JSON.stringify({
        eventId: `poison-${tag}`,
        userId,
        date: "2025-13-45",
        rmssd: -1,
        receivedAt: new Date().toISOString(),
        raw: { device: marker },
      }),
      { msgID: `poison-${tag}`, headers: h },
    );
    const [first] = await waitFor(
      async () => {
        const seqs = await dlqSeqs(stack.jsm);
        return seqs.length === 1 ? seqs : undefined;
      },
      { what: "the poison message in the DLQ" },
    );
    const copy = await stack.jsm.streams.getMessage("AA_DLQ", { seq: first! });
    const copied = copy?.header?.get("traceparent") ?? "";
    assert.match(copied, new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`), "the DLQ copy carries the original trace");

    const line = await waitFor(
      () => stack.normalize!.lines.find((l) => l.includes("message dead-lettered") && l.includes(traceId)),
      { what: "the dead-letter log line with the trace id" },
    );
    const record = JSON.parse(line) as Record<string, unknown>;
    assert.equal(record.trace_id, traceId);
    assert.match(String(record.span_id), /^[0-9a-f]{16}$/);

    const dlqSpan = await waitFor(() => spansOf(traceId).find((s) => s.name.startsWith("publish dlq.")), {
      what: "the DLQ publish span",
    });
    assert.equal(copied.split("-")[2], dlqSpan.spanId, "the copy's context is its own PRODUCER span");
    const consumer = one(spansOf(traceId), "consumer span", (s) => s.kind === SpanKinds.consumer);
    assert.deepEqual(
      [consumer.parentSpanId, dlqSpan.parentSpanId, consumer.statusCode],
      [callerSpanId, consumer.spanId, 2],
    );

    const replayed = await aaOps(["dlq", "replay", "--subject", HRV], { NATS_URL: stack.nats.url });
    assert.equal(replayed.code, 0, showRun(replayed));
    const again = await waitFor(
      () => spansOf(traceId).find((s) => s.kind === SpanKinds.consumer && s.parentSpanId === dlqSpan.spanId),
      { what: "the replay's consumer span, child of the DLQ copy" },
    );
    assert.equal(again.attributes["messaging.message.id"], `poison-${tag}:replay:${first}`);
    const exported = JSON.stringify(receiver.spans);
    assert.ok(!exported.includes(userId) && !exported.includes(marker), "no user id or payload in any exported span");
  });
});
