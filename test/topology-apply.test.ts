import assert from "node:assert/strict";
import { test } from "node:test";
import pino from "pino";
import {
  applyPlan,
  DEFAULT_TOPOLOGY_NAMES,
  manageStreams,
  planTopology,
  readTopology,
  topologyFor,
  type ChangeOutcome,
  type Topology,
} from "@aa/event-bus";
import { emptyJetStreamPerTest, streamNames, watchMutations } from "./helpers/ops-scripts.js";

// The one applier every tool shares (runbook scripts, aa-ops topology apply, manageStreams).
const nats = emptyJetStreamPerTest();
const names = DEFAULT_TOPOLOGY_NAMES;

async function applyRecorded(
  desired: Topology,
  dryRun: boolean,
): Promise<{ outcomes: ChangeOutcome[]; seen: ChangeOutcome[]; sent: string[] }> {
  const watch = watchMutations(nats.nc);
  await nats.nc.flush();
  const seen: ChangeOutcome[] = [];
  const plan = planTopology(await readTopology(nats.jsm), desired);
  const outcomes = await applyPlan(nats.jsm, plan, { dryRun, onChange: (outcome) => seen.push(outcome) });
  return { outcomes, seen, sent: await watch.stop() };
}

const results = (outcomes: readonly ChangeOutcome[]) =>
  outcomes.map((o) => `${o.type} ${o.type === "stream" ? o.change.spec.name : o.change.spec.durable}: ${o.result}`);

test("applyPlan dry run: every change would apply, each reported in plan order, nothing sent", async () => {
  const { outcomes, seen, sent } = await applyRecorded(topologyFor("multi", names, 1), true);
  assert.deepEqual(sent, []);
  assert.deepEqual(await streamNames(nats.jsm), []);
  assert.deepEqual(seen, outcomes, "onChange sees each outcome once, in order");
  assert.deepEqual(results(outcomes), [
    "stream AA_CORE_HOT: would_apply",
    "stream AA_VENDOR_HOT: would_apply",
    "stream AA_DLQ: would_apply",
    "stream AA_DLQ_ADVISORIES: would_apply",
    "consumer normalize-hrv-durable: would_apply",
    "consumer normalize-sleep-durable: would_apply",
    "consumer normalize-oura: would_apply",
  ]);
  assert.equal(outcomes[0]?.call?.api, "$JS.API.STREAM.CREATE.AA_CORE_HOT");
});

test("applyPlan: creates the topology; a second run sends nothing and recreates nothing", async () => {
  const desired = topologyFor("multi", names, 1);
  const first = await applyRecorded(desired, false);
  assert.ok(
    first.outcomes.every((o) => o.result === "applied"),
    results(first.outcomes).join("\n"),
  );
  const created = (await nats.jsm.streams.info("AA_CORE_HOT")).created;
  const second = await applyRecorded(desired, false);
  assert.deepEqual(second.sent, []);
  assert.ok(
    second.outcomes.every((o) => o.result === "unchanged"),
    results(second.outcomes).join("\n"),
  );
  assert.equal((await nats.jsm.streams.info("AA_CORE_HOT")).created, created);
});

test("applyPlan: a stream the server refuses fails, the others go on, its durables are skipped", async () => {
  // A standalone server refuses R3 streams: a real failure of the create call.
  const { outcomes, sent } = await applyRecorded(topologyFor("multi", names, 3), false);
  assert.deepEqual(results(outcomes), [
    "stream AA_CORE_HOT: failed",
    "stream AA_VENDOR_HOT: failed",
    "stream AA_DLQ: failed",
    "stream AA_DLQ_ADVISORIES: failed",
    "consumer normalize-hrv-durable: skipped",
    "consumer normalize-sleep-durable: skipped",
    "consumer normalize-oura: skipped",
  ]);
  assert.ok(outcomes[0]?.error instanceof Error);
  const hrv = outcomes[4];
  assert.equal(hrv?.type === "consumer" && hrv.blockedBy, "AA_CORE_HOT");
  assert.ok(!sent.some((s) => s.startsWith("$JS.API.CONSUMER")), sent.join("\n"));
});

test("applyPlan: needs_migration is skipped and the legacy stream is left as it is", async () => {
  const legacy = ["athlete-ally.>", "vendor.>", "sleep.*"];
  await nats.jsm.streams.add({ name: "ATHLETE_ALLY_EVENTS", subjects: legacy });
  const { outcomes, sent } = await applyRecorded(topologyFor("multi", names, 1), false);
  assert.deepEqual(sent.sort(), ["$JS.API.STREAM.CREATE.AA_DLQ", "$JS.API.STREAM.CREATE.AA_DLQ_ADVISORIES"]);
  assert.equal(outcomes.filter((o) => o.result === "skipped" && o.change.kind === "needs_migration").length, 5);
  assert.deepEqual((await nats.jsm.streams.info("ATHLETE_ALLY_EVENTS")).config.subjects, legacy);
});

test("manageStreams (FEATURE_SERVICE_MANAGES_STREAMS): creates the mode's streams and logs each; a refused one stops startup", async () => {
  const lines: string[] = [];
  const logger = pino({ level: "info" }, { write: (line: string) => void lines.push(String(JSON.parse(line).msg)) });
  // A standalone server refuses to create R3 streams.
  await assert.rejects(manageStreams(nats.nc, { mode: "single", names }, 3, logger), /replicas/i);
  await manageStreams(nats.nc, { mode: "single", names }, 1, logger);
  assert.deepEqual(await streamNames(nats.jsm), ["AA_DLQ", "AA_DLQ_ADVISORIES", "ATHLETE_ALLY_EVENTS"]);
  assert.ok(lines.includes("[event-bus] Stream ATHLETE_ALLY_EVENTS: created"), lines.join("\n"));
});
