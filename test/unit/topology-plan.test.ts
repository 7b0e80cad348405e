import assert from "node:assert/strict";
import { test } from "node:test";
import { AckPolicy, DeliverPolicy, StorageType } from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import {
  DEFAULT_TOPOLOGY_NAMES,
  owningStream,
  planTopology,
  toStreamConfig,
  topologyFor,
  type ChangeKind,
  type TopologyPlan,
} from "@aa/event-bus";
import { serverAsDesired, serverState } from "./helpers.js";

const names = DEFAULT_TOPOLOGY_NAMES;
const multi = topologyFor("multi", names, 1);
const single = topologyFor("single", names, 1);
const LEGACY = { name: "ATHLETE_ALLY_EVENTS", subjects: ["athlete-ally.>", "vendor.>", "sleep.*"] };
const ownerIn = (topology: typeof multi) => (subject: string) => owningStream(topology.streams, subject) ?? "?";

const kinds = (plan: TopologyPlan): Record<string, ChangeKind> =>
  Object.fromEntries([
    ...plan.streams.map((c) => [c.spec.name, c.kind] as const),
    ...plan.consumers.map((c) => [`${c.spec.durable}@${c.stream ?? "-"}`, c.kind] as const),
  ]);

test("planTopology: an empty server gets every multi stream and durable created", () => {
  assert.deepEqual(kinds(planTopology(serverState([]), multi)), {
    AA_CORE_HOT: "create",
    AA_VENDOR_HOT: "create",
    AA_DLQ: "create",
    AA_DLQ_ADVISORIES: "create",
    "normalize-hrv-durable@AA_CORE_HOT": "create",
    "normalize-sleep-durable@AA_CORE_HOT": "create",
    "normalize-oura@AA_VENDOR_HOT": "create",
  });
});

test("planTopology: a server already as desired plans nothing (re-running sends nothing)", () => {
  for (const desired of [multi, single]) {
    const plan = planTopology(serverAsDesired(desired, ownerIn(desired)), desired);
    const all = [...plan.streams, ...plan.consumers];
    assert.deepEqual(
      all.filter((c) => c.kind !== "none").map((c) => c.kind),
      [],
      `mode ${desired.mode}`,
    );
  }
});

test("planTopology: the legacy stream owning the subjects makes the multi streams needs_migration", () => {
  const plan = planTopology(serverState([LEGACY]), multi);
  const core = plan.streams.find((c) => c.spec.name === "AA_CORE_HOT");
  assert.equal(core?.kind, "needs_migration");
  assert.deepEqual(
    core?.conflicts.map((c) => `${c.subject}@${c.ownedBy}`),
    ["athlete-ally.>@ATHLETE_ALLY_EVENTS", "sleep.*@ATHLETE_ALLY_EVENTS"],
  );
  assert.equal(plan.streams.find((c) => c.spec.name === "AA_DLQ")?.kind, "create", "the DLQ owns no legacy subject");
  // A durable cannot go on a stream that gets its subject only from the migration.
  assert.deepEqual(
    plan.consumers.map((c) => c.kind),
    ["needs_migration", "needs_migration", "needs_migration"],
  );
});

test("planTopology: a durable on the legacy stream is listed as elsewhere while its multi home is planned", () => {
  const current = serverState([LEGACY], { ATHLETE_ALLY_EVENTS: [{ durable_name: "normalize-hrv-durable" }] });
  const hrv = planTopology(current, multi).consumers.find((c) => c.spec.durable === "normalize-hrv-durable");
  assert.equal(hrv?.stream, "AA_CORE_HOT");
  assert.deepEqual(hrv?.elsewhere, ["ATHLETE_ALLY_EVENTS"]);
});

test("planTopology: a hand-changed max_age is an update naming the field", () => {
  const current = serverAsDesired(multi, ownerIn(multi));
  const core = current.streams.find((s) => s.name === "AA_CORE_HOT");
  if (core) core.max_age = nanos(24 * 3_600_000);
  const change = planTopology(current, multi).streams.find((c) => c.spec.name === "AA_CORE_HOT");
  assert.equal(change?.kind, "update");
  assert.deepEqual(
    change?.fields.map((f) => f.field),
    ["max_age"],
  );
});

test("planTopology: num_replicas (not replicas) is compared, so R1 → R3 is an update", () => {
  const current = serverAsDesired(multi, ownerIn(multi));
  const change = planTopology(current, topologyFor("multi", names, 3)).streams[0];
  assert.equal(change?.kind, "update");
  assert.deepEqual(change?.fields, [{ field: "num_replicas", current: 1, desired: 3 }]);
});

test("planTopology: a different storage is forbidden (never delete and recreate)", () => {
  const dlq = { ...toStreamConfig(multi.streams[2]!), storage: StorageType.Memory };
  const change = planTopology(serverState([dlq]), multi).streams.find((c) => c.spec.name === "AA_DLQ");
  assert.equal(change?.kind, "forbidden");
  assert.deepEqual(
    change?.fields.map((f) => f.field),
    ["storage"],
  );
});

test("planTopology: a subject order that differs is not a difference", () => {
  const core = { ...toStreamConfig(multi.streams[0]!), subjects: ["sleep.*", "athlete-ally.>"] };
  assert.equal(planTopology(serverState([core]), multi).streams[0]?.kind, "none");
});

test("planTopology: consumer drift — max_deliver is an update, deliver_policy is forbidden", () => {
  const current = serverState([toStreamConfig(multi.streams[0]!)], {
    AA_CORE_HOT: [
      {
        durable_name: "normalize-hrv-durable",
        filter_subject: "athlete-ally.hrv.raw-received",
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        max_deliver: 3,
      },
      {
        durable_name: "normalize-sleep-durable",
        filter_subject: "athlete-ally.sleep.raw-received",
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.New,
      },
    ],
  });
  const [hrv, sleep] = planTopology(current, multi).consumers;
  assert.equal(hrv?.kind, "update");
  assert.ok(hrv?.fields.some((f) => f.field === "max_deliver" && f.current === 3 && f.desired === 5));
  assert.equal(sleep?.kind, "forbidden");
  assert.ok(sleep?.fields.some((f) => f.field === "deliver_policy"));
});

test("planTopology: single mode puts every durable on the legacy stream", () => {
  const plan = planTopology(serverState([]), single);
  assert.deepEqual(
    plan.consumers.map((c) => c.stream),
    ["ATHLETE_ALLY_EVENTS", "ATHLETE_ALLY_EVENTS", "ATHLETE_ALLY_EVENTS"],
  );
});

// A durable's leader can die before it replicates acks: those messages come back after the ack
// wait (docs/scaling.md). normalize's announcement of such a message is then dropped as a duplicate
// only if the redelivery still falls inside the duplicate window of the stream holding it.
test("topologyFor: every durable's ack wait is shorter than every stream's duplicate window", () => {
  for (const topology of [multi, single]) {
    const shortestWindow = Math.min(...topology.streams.map((s) => s.duplicateWindowMs));
    for (const consumer of topology.consumers) {
      assert.ok(
        consumer.ackWaitMs < shortestWindow,
        `${consumer.durable}: ack wait ${consumer.ackWaitMs} ms, shortest duplicate window ${shortestWindow} ms`,
      );
    }
  }
});
