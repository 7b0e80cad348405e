import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_TOPOLOGY_NAMES, owningStream, planTopology, topologyFor } from "@aa/event-bus";
import { consumerChecks, streamChecks } from "../../tools/ops/src/verify/checks.js";
import { serverAsDesired, serverState } from "./helpers.js";

const multi = topologyFor("multi", DEFAULT_TOPOLOGY_NAMES, 1);

test("verify checks: a server as desired passes every stream and consumer check", () => {
  const plan = planTopology(
    serverAsDesired(multi, (s) => owningStream(multi.streams, s) ?? "?"),
    multi,
  );
  const checks = [...streamChecks(plan, "multi"), ...consumerChecks(plan, "multi")];
  assert.deepEqual(
    checks.filter((c) => c.status !== "PASS").map((c) => c.name),
    [],
  );
  assert.equal(checks.length, 7);
  assert.match(checks[0]?.detail ?? "", /^subjects athlete-ally\.>, sleep\.\*, max age 48h, replicas 1$/);
});

test("verify checks: a missing stream fails as missing and points at topology plan", () => {
  const [core] = streamChecks(planTopology(serverState([]), multi), "multi");
  assert.equal(core?.status, "FAIL");
  assert.equal(core?.detail, "missing");
  assert.equal(core?.investigate, "aa-ops topology plan --mode multi");
});

test("verify checks: a missing durable fails and points at topology apply --dry-run", () => {
  const current = serverAsDesired({ ...multi, consumers: [] }, () => "?");
  const [hrv] = consumerChecks(planTopology(current, multi), "multi");
  assert.equal(hrv?.status, "FAIL");
  assert.equal(hrv?.name, "consumer normalize-hrv-durable on AA_CORE_HOT");
  assert.equal(hrv?.detail, "missing on AA_CORE_HOT");
  assert.equal(hrv?.investigate, "aa-ops topology apply --mode multi --dry-run");
});

test("verify checks: the legacy owner makes the multi streams fail with the migration reason", () => {
  const plan = planTopology(
    serverState([{ name: "ATHLETE_ALLY_EVENTS", subjects: ["athlete-ally.>", "vendor.>", "sleep.*"] }]),
    multi,
  );
  const [core] = streamChecks(plan, "multi");
  assert.equal(core?.status, "FAIL");
  assert.match(core?.detail ?? "", /owned by another stream/);
  assert.ok(core?.reasons.includes("athlete-ally.> is owned by stream ATHLETE_ALLY_EVENTS"), core?.reasons.join("\n"));
});
