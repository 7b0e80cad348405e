import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_TOPOLOGY_NAMES, topologyFor, toStreamConfig } from "@aa/event-bus";
import { pendingHandoffs, planMigration, type MigrationPlan } from "../../tools/ops/src/migration/plan.js";
import { serverState } from "./helpers.js";

const names = DEFAULT_TOPOLOGY_NAMES;
const LEGACY_SUBJECTS = ["athlete-ally.>", "vendor.>", "sleep.*"];
const DURABLES = ["normalize-hrv-durable", "normalize-sleep-durable", "normalize-oura"].map((durable_name) => ({
  durable_name,
}));
const moves = (plan: MigrationPlan) => plan.moves.map((m) => `${m.pattern}: ${m.from} → ${m.to} (${m.state})`);

test("planMigration to multi from the legacy stream: create the streams, move three patterns, drain three durables", () => {
  const plan = planMigration(
    serverState([{ name: "ATHLETE_ALLY_EVENTS", subjects: LEGACY_SUBJECTS }], { ATHLETE_ALLY_EVENTS: DURABLES }),
    "multi",
    names,
    1,
  );
  assert.deepEqual(
    plan.missingStreams.map((s) => s.name),
    ["AA_CORE_HOT", "AA_VENDOR_HOT", "AA_DLQ", "AA_DLQ_ADVISORIES"],
  );
  assert.deepEqual(moves(plan), [
    "athlete-ally.>: ATHLETE_ALLY_EVENTS → AA_CORE_HOT (at_source)",
    "sleep.*: ATHLETE_ALLY_EVENTS → AA_CORE_HOT (at_source)",
    "vendor.>: ATHLETE_ALLY_EVENTS → AA_VENDOR_HOT (at_source)",
  ]);
  assert.deepEqual(
    plan.targetDurables.map((d) => `${d.spec.durable}@${d.stream}`),
    ["normalize-hrv-durable@AA_CORE_HOT", "normalize-sleep-durable@AA_CORE_HOT", "normalize-oura@AA_VENDOR_HOT"],
  );
  assert.deepEqual(
    plan.drains.map((d) => `${d.durable}@${d.stream}`),
    [
      "normalize-hrv-durable@ATHLETE_ALLY_EVENTS",
      "normalize-sleep-durable@ATHLETE_ALLY_EVENTS",
      "normalize-oura@ATHLETE_ALLY_EVENTS",
    ],
  );
  assert.deepEqual(
    pendingHandoffs(plan).map((h) => `${h.from} → ${h.to}: ${h.moves.length}`),
    ["ATHLETE_ALLY_EVENTS → AA_CORE_HOT: 2", "ATHLETE_ALLY_EVENTS → AA_VENDOR_HOT: 1"],
  );
});

test("planMigration after a finished migration: every move at_target, nothing to hand off (re-run resumes)", () => {
  const current = serverState([
    { name: "ATHLETE_ALLY_EVENTS", subjects: ["aa-ops.parked.ATHLETE_ALLY_EVENTS"] },
    ...topologyFor("multi", names, 1).streams.map(toStreamConfig),
  ]);
  const plan = planMigration(current, "multi", names, 1);
  assert.deepEqual(plan.missingStreams, []);
  assert.ok(
    plan.moves.every((m) => m.state === "at_target"),
    moves(plan).join("; "),
  );
  assert.deepEqual(pendingHandoffs(plan), []);
});

test("planMigration after a run stopped between the two updates: the pattern is in_gap", () => {
  const current = serverState([
    { name: "ATHLETE_ALLY_EVENTS", subjects: ["vendor.>", "sleep.*"] },
    { name: "AA_CORE_HOT", subjects: ["aa-ops.parked.AA_CORE_HOT"] },
  ]);
  const gap = planMigration(current, "multi", names, 1).moves.find((m) => m.pattern === "athlete-ally.>");
  assert.deepEqual(gap, { pattern: "athlete-ally.>", from: "ATHLETE_ALLY_EVENTS", to: "AA_CORE_HOT", state: "in_gap" });
});

test("planMigration back to single: the patterns move from the multi streams to the legacy stream", () => {
  const current = serverState(topologyFor("multi", names, 1).streams.map(toStreamConfig), {
    AA_CORE_HOT: DURABLES.slice(0, 2),
    AA_VENDOR_HOT: DURABLES.slice(2),
  });
  const plan = planMigration(current, "single", names, 1);
  assert.deepEqual(moves(plan), [
    "athlete-ally.>: AA_CORE_HOT → ATHLETE_ALLY_EVENTS (at_source)",
    "vendor.>: AA_VENDOR_HOT → ATHLETE_ALLY_EVENTS (at_source)",
    "sleep.*: AA_CORE_HOT → ATHLETE_ALLY_EVENTS (at_source)",
  ]);
  assert.deepEqual(
    plan.missingStreams.map((s) => s.name),
    ["ATHLETE_ALLY_EVENTS"],
  );
  assert.deepEqual(
    plan.drains.map((d) => `${d.durable}@${d.stream}`),
    ["normalize-hrv-durable@AA_CORE_HOT", "normalize-sleep-durable@AA_CORE_HOT", "normalize-oura@AA_VENDOR_HOT"],
  );
});

test("planMigration to multi: parked creations and each handoff planned on the subjects the one before leaves", () => {
  const plan = planMigration(
    serverState([
      { name: "ATHLETE_ALLY_EVENTS", subjects: LEGACY_SUBJECTS, max_age: 86_400_000_000_000 },
      ...topologyFor("multi", names, 1).streams.slice(2).map(toStreamConfig),
    ]),
    "multi",
    names,
    1,
  );
  assert.deepEqual(
    plan.creates.map((c) => `${c.kind} ${c.spec.name} ${JSON.stringify(c.config.subjects)}`),
    ['create AA_CORE_HOT ["aa-ops.parked.AA_CORE_HOT"]', 'create AA_VENDOR_HOT ["aa-ops.parked.AA_VENDOR_HOT"]'],
  );
  const updates = plan.handoffs.flatMap((h) => [h.release, h.take]);
  assert.deepEqual(
    updates.map((c) => `${c?.kind} ${JSON.stringify(c?.config)}`),
    [
      'update {"name":"ATHLETE_ALLY_EVENTS","subjects":["vendor.>"]}',
      'update {"name":"AA_CORE_HOT","subjects":["athlete-ally.>","sleep.*"]}',
      // The second pair starts from what the first left: only the placeholder remains on the legacy stream.
      'update {"name":"ATHLETE_ALLY_EVENTS","subjects":["aa-ops.parked.ATHLETE_ALLY_EVENTS"]}',
      'update {"name":"AA_VENDOR_HOT","subjects":["vendor.>"]}',
    ],
  );
  // Only the subjects are sent: the update merges onto the server's config, whose max_age stays.
  assert.equal(plan.handoffs[0]?.release?.spec.maxAgeMs, 86_400_000);
});

test("planMigration resuming an interrupted handoff: the source already gave the pattern up, only the target is updated", () => {
  const current = serverState([
    { name: "ATHLETE_ALLY_EVENTS", subjects: ["vendor.>", "sleep.*"] },
    { name: "AA_CORE_HOT", subjects: ["aa-ops.parked.AA_CORE_HOT"] },
  ]);
  const [first] = planMigration(current, "multi", names, 1).handoffs;
  assert.deepEqual(first?.release?.config, { name: "ATHLETE_ALLY_EVENTS", subjects: ["vendor.>"] });
  assert.deepEqual(first?.take.config, { name: "AA_CORE_HOT", subjects: ["athlete-ally.>", "sleep.*"] });
  const done = serverState([
    { name: "ATHLETE_ALLY_EVENTS", subjects: ["aa-ops.parked.ATHLETE_ALLY_EVENTS"] },
    { name: "AA_CORE_HOT", subjects: ["aa-ops.parked.AA_CORE_HOT"] },
    { name: "AA_VENDOR_HOT", subjects: ["vendor.>"] },
  ]);
  const gap = planMigration(done, "multi", names, 1).handoffs[0];
  assert.equal(gap?.release?.kind, "none", "nothing left to remove from the source");
  assert.equal(gap?.take.kind, "update");
});
