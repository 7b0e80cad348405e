import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, test } from "node:test";
import { SpanKinds, startOtlpReceiver, type OtlpReceiver } from "./helpers/otlp-receiver.js";
import { createStack, postJson, type Stack } from "./helpers/stack.js";
import { waitFor } from "./helpers/wait.js";

// The ratio sampler keeps a trace when the XOR of its id's 32-bit words is under ratio × 2³²: with 0.5, an id
// whose words XOR to 1 is kept and one whose words XOR to 0xffffffff is not, whatever a caller's flag says.
const KEPT = `00000001${randomBytes(4).toString("hex").repeat(2)}${"0".repeat(8)}`;
const DROPPED = `ffffffff${randomBytes(4).toString("hex").repeat(2)}${"0".repeat(8)}`;
const traceparent = (traceId: string, sampled: boolean) =>
  `00-${traceId}-${randomBytes(8).toString("hex")}-${sampled ? "01" : "00"}`;

let stack: Stack;
let receiver: OtlpReceiver;

before(async () => {
  receiver = await startOtlpReceiver();
  stack = await createStack({ mode: "multi" });
  const otel = {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_BSP_SCHEDULE_DELAY: "100",
    OTEL_TRACES_SAMPLER: "parentbased_traceidratio",
    OTEL_TRACES_SAMPLER_ARG: "0.5",
  };
  await stack.startNormalize(otel);
  await stack.startIngest(otel);
});
after(async () => {
  await stack?.close();
  await receiver?.close();
});

test("a client's traceparent flag neither forces a trace in nor keeps one out: the ratio decides, for the whole trace", async () => {
  const post = (userId: string, header: string) =>
    postJson(`${stack.ingestUrl}/ingest/hrv`, { userId, date: "2025-10-02", rmssd: 55 }, { traceparent: header });
  // The client asks for a trace the ratio drops, then hides one the ratio keeps.
  assert.equal((await post("sampling-forced", traceparent(DROPPED, true))).status, 202);
  assert.equal((await post("sampling-hidden", traceparent(KEPT, false))).status, 202);

  const kept = await waitFor(
    () => {
      const spans = receiver.spans.filter((s) => s.traceId === KEPT);
      const whole = spans.some((s) => s.kind === SpanKinds.server) && spans.some((s) => s.kind === SpanKinds.consumer);
      return whole ? spans : undefined;
    },
    { timeoutMs: 20_000, what: "ingest's and normalize's spans of the trace the ratio keeps" },
  );
  assert.ok(kept.length >= 2);
  // Stopping flushes what either service still buffers: after it, a span of the dropped trace would be here.
  await Promise.all([stack.ingest?.stop(), stack.normalize?.stop()]);
  assert.deepEqual(
    receiver.spans.filter((s) => s.traceId === DROPPED).map((s) => `${s.service}: ${s.name}`),
    [],
    "the client's sampled flag did not force its trace in",
  );
});
