import assert from "node:assert/strict";
import { test } from "node:test";
import { classifyBindings, type StreamObservation } from "@aa/event-bus";

const HRV = "athlete-ally.hrv.raw-received";
const multi = {
  candidates: ["AA_CORE_HOT", "ATHLETE_ALLY_EVENTS"],
  durable: "normalize-hrv-durable",
  filterSubject: HRV,
};
const CORE = ["athlete-ally.>", "sleep.*"];
const LEGACY = ["athlete-ally.>", "vendor.>", "sleep.*"];

const seen = (stream: string, subjects?: string[], pending?: number): StreamObservation => ({
  stream,
  subjects,
  durable: pending === undefined ? undefined : { maxDeliver: 5, pending },
});
const roles = (result: ReturnType<typeof classifyBindings>) => result.bindings.map((b) => `${b.stream} ${b.role}`);
const notes = (result: ReturnType<typeof classifyBindings>) =>
  result.notes.map((n) => ("stream" in n ? `${n.kind} ${n.stream}` : n.kind));

test("multi after the cutover: primary on the core stream, the legacy durable with nothing left is ignored", () => {
  const result = classifyBindings(multi, [seen("AA_CORE_HOT", CORE, 0), seen("ATHLETE_ALLY_EVENTS", ["vendor.>"], 0)]);
  assert.deepEqual(roles(result), ["AA_CORE_HOT primary"]);
  assert.deepEqual(notes(result), ["found AA_CORE_HOT", "ignored ATHLETE_ALLY_EVENTS"]);
  assert.deepEqual(result.bindings[0], {
    stream: "AA_CORE_HOT",
    durable: "normalize-hrv-durable",
    filterSubject: HRV,
    role: "primary",
    maxDeliver: 5,
    pending: 0,
  });
});

test("multi during the drain: the legacy durable with messages left is bound drain-only beside the primary", () => {
  const result = classifyBindings(multi, [seen("AA_CORE_HOT", CORE, 3), seen("ATHLETE_ALLY_EVENTS", ["vendor.>"], 7)]);
  assert.deepEqual(roles(result), ["AA_CORE_HOT primary", "ATHLETE_ALLY_EVENTS drain_only"]);
  assert.deepEqual(result.notes[1], { kind: "drain_only", stream: "ATHLETE_ALLY_EVENTS", pending: 7 });
});

test("multi before the cutover: no core stream yet, the legacy stream is the primary", () => {
  const result = classifyBindings(multi, [seen("AA_CORE_HOT"), seen("ATHLETE_ALLY_EVENTS", LEGACY, 0)]);
  assert.deepEqual(roles(result), ["ATHLETE_ALLY_EVENTS primary"]);
  assert.deepEqual(notes(result), ["stream_missing AA_CORE_HOT", "found ATHLETE_ALLY_EVENTS"]);
});

test("a missing durable is noted only while nothing is bound yet", () => {
  const result = classifyBindings(multi, [seen("AA_CORE_HOT", CORE, 0), seen("ATHLETE_ALLY_EVENTS", ["vendor.>"])]);
  assert.deepEqual(notes(result), ["found AA_CORE_HOT"]);
  const first = classifyBindings(multi, [seen("AA_CORE_HOT", CORE), seen("ATHLETE_ALLY_EVENTS", LEGACY, 0)]);
  assert.deepEqual(notes(first), ["durable_missing AA_CORE_HOT", "found ATHLETE_ALLY_EVENTS"]);
});

test("single mode after a migration to multi: the other mode's stream owns the subject and is bound, so nothing strands", () => {
  const single = { ...multi, candidates: ["ATHLETE_ALLY_EVENTS"], otherStreams: ["AA_CORE_HOT", "AA_VENDOR_HOT"] };
  const result = classifyBindings(single, [
    seen("ATHLETE_ALLY_EVENTS", ["aa-ops.parked.ATHLETE_ALLY_EVENTS"], 0),
    seen("AA_CORE_HOT", CORE, 0),
    seen("AA_VENDOR_HOT", ["vendor.>"]),
  ]);
  assert.deepEqual(roles(result), ["AA_CORE_HOT primary"]);
  assert.deepEqual(notes(result), ["ignored ATHLETE_ALLY_EVENTS", "outside_candidates AA_CORE_HOT"]);
});

test("an empty durable on another mode's stream that lost the subject is neither bound nor noted", () => {
  const single = { ...multi, candidates: ["ATHLETE_ALLY_EVENTS"], otherStreams: ["AA_CORE_HOT"] };
  const result = classifyBindings(single, [seen("ATHLETE_ALLY_EVENTS", LEGACY, 0), seen("AA_CORE_HOT", ["x.>"], 0)]);
  assert.deepEqual(notes(result), ["found ATHLETE_ALLY_EVENTS"]);
});

test("only a drain-only binding: bound, and noted that new events will not be consumed", () => {
  const result = classifyBindings(multi, [seen("AA_CORE_HOT"), seen("ATHLETE_ALLY_EVENTS", ["vendor.>"], 2)]);
  assert.deepEqual(roles(result), ["ATHLETE_ALLY_EVENTS drain_only"]);
  assert.equal(result.notes.at(-1)?.kind, "no_primary");
});

test("no stream holds the durable: no binding (the caller raises ConsumerBindingError)", () => {
  const result = classifyBindings(multi, [seen("AA_CORE_HOT", CORE), seen("ATHLETE_ALLY_EVENTS")]);
  assert.deepEqual(result.bindings, []);
  assert.deepEqual(notes(result), ["durable_missing AA_CORE_HOT", "stream_missing ATHLETE_ALLY_EVENTS"]);
});
