import assert from "node:assert/strict";
import { test } from "node:test";
import { context, ROOT_CONTEXT, SpanKind, trace, TraceFlags, type Context } from "@opentelemetry/api";
import * as sdk from "@opentelemetry/sdk-trace";
import { ConfigError, samplerOf, tracingSettings } from "@aa/service-kit";

const TRACE_ID = "0af7651916cd43dd8448eb211c80319c";
const SAMPLED = { RECORD_AND_SAMPLED: 2, NOT_RECORD: 0 } as const;

/** A parent from outside the process (a client's traceparent) or from inside it, with its sampled flag. */
const parent = (remote: boolean, sampled: boolean): Context =>
  trace.setSpanContext(ROOT_CONTEXT, {
    traceId: TRACE_ID,
    spanId: "b7ad6b7169203331",
    traceFlags: sampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
    isRemote: remote,
  });

const decide = (sampler: sdk.Sampler, ctx: Context) =>
  sampler.shouldSample(ctx, TRACE_ID, "POST /ingest/hrv", SpanKind.SERVER, {}, []).decision;

test("a remote parent's sampled flag decides nothing: the root rule does; a parent in this process is followed", () => {
  const never = samplerOf(
    sdk,
    tracingSettings({ OTEL_TRACES_SAMPLER: "parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG: "0" }, "x").sampler,
  );
  assert.equal(decide(never, parent(true, true)), SAMPLED.NOT_RECORD, "a client's sampled=01 does not force a trace");
  assert.equal(decide(never, ROOT_CONTEXT), SAMPLED.NOT_RECORD);
  assert.equal(decide(never, parent(false, true)), SAMPLED.RECORD_AND_SAMPLED, "a local sampled parent is followed");

  const always = samplerOf(sdk, tracingSettings({}, "x").sampler);
  assert.equal(decide(always, parent(true, false)), SAMPLED.RECORD_AND_SAMPLED, "nor does sampled=00 hide a request");
  assert.equal(decide(always, parent(false, false)), SAMPLED.NOT_RECORD);
  assert.equal(context.active(), ROOT_CONTEXT);
});

test("the ratio decides by trace id, so ingest and normalize keep the same traces", () => {
  const half = tracingSettings(
    { OTEL_TRACES_SAMPLER: "parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG: "0.5" },
    "x",
  );
  const [a, b] = [samplerOf(sdk, half.sampler), samplerOf(sdk, half.sampler)];
  assert.equal(decide(a, parent(true, false)), decide(b, parent(true, true)));
});

test("an unknown sampler or a ratio outside 0..1 is a startup error naming the variable", () => {
  assert.throws(
    () => tracingSettings({ OTEL_TRACES_SAMPLER: "jaeger_remote" }, "x"),
    (error: Error) =>
      error instanceof ConfigError && /OTEL_TRACES_SAMPLER must be one of always_on/.test(error.message),
  );
  assert.throws(
    () => tracingSettings({ OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "1.5" }, "x"),
    /OTEL_TRACES_SAMPLER_ARG must be a number from 0 to 1, got "1.5"/,
  );
});
