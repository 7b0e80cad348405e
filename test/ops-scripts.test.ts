import assert from "node:assert/strict";
import { test } from "node:test";
import { AckPolicy, DeliverPolicy, StorageType } from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import { freePort } from "./helpers/nats.js";
import {
  consumerNames,
  emptyJetStreamPerTest,
  runOpsScript,
  streamNames,
  watchMutations,
} from "./helpers/ops-scripts.js";

const HOUR_MS = 3_600_000;
const LEGACY_SUBJECTS = ["athlete-ally.>", "vendor.>", "sleep.*"];

const nats = emptyJetStreamPerTest();

const streams = (env: Record<string, string> = {}) =>
  runOpsScript("create-streams", { NATS_URL: nats.server.url, ...env });
const consumers = (env: Record<string, string> = {}) =>
  runOpsScript("create-consumers", { NATS_URL: nats.server.url, ...env });

async function streamsCreated(): Promise<void> {
  const run = await streams();
  assert.equal(run.code, 0, run.out);
}

/** Runs `action` and returns the topology-changing API requests it sent. */
async function mutationsDuring(action: () => Promise<unknown>): Promise<string[]> {
  const watch = watchMutations(nats.nc);
  await nats.nc.flush();
  await action();
  return watch.stop();
}

test("fresh server: create-streams creates the three multi streams and the DLQ advisories stream as specified", async () => {
  let run = { code: -1 as number | null, out: "" };
  const sent = await mutationsDuring(async () => (run = await streams()));
  assert.equal(run.code, 0, run.out);
  assert.deepEqual(sent.sort(), [
    "$JS.API.STREAM.CREATE.AA_CORE_HOT",
    "$JS.API.STREAM.CREATE.AA_DLQ",
    "$JS.API.STREAM.CREATE.AA_DLQ_ADVISORIES",
    "$JS.API.STREAM.CREATE.AA_VENDOR_HOT",
  ]);
  assert.deepEqual(await streamNames(nats.jsm), ["AA_CORE_HOT", "AA_DLQ", "AA_DLQ_ADVISORIES", "AA_VENDOR_HOT"]);
  const advisorySubjects = [
    "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>",
    "$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.>",
    "dlq-audit.>",
  ];
  const expected = {
    AA_CORE_HOT: ["athlete-ally.>", "sleep.*"],
    AA_VENDOR_HOT: ["vendor.>"],
    AA_DLQ: ["dlq.>"],
    AA_DLQ_ADVISORIES: advisorySubjects,
  };
  for (const [name, subjects] of Object.entries(expected)) {
    const { config } = await nats.jsm.streams.info(name);
    assert.deepEqual(config.subjects, subjects);
    assert.equal(config.num_replicas, 1);
    assert.equal(config.storage, StorageType.File);
    assert.equal(config.duplicate_window, nanos(2 * 60_000));
    assert.equal(config.max_age, nanos(name.startsWith("AA_DLQ") ? 14 * 24 * HOUR_MS : 48 * HOUR_MS));
  }
  assert.match(run.out, /^Replicas: {5}1$/m);
  assert.match(
    run.out,
    /➕ Stream AA_CORE_HOT does not exist\n {3}Creating with: subjects=athlete-ally\.>,sleep\.\*, replicas=1, maxAge=48h\n✅ Stream AA_CORE_HOT created successfully/,
  );
  assert.match(run.out, /✅ All streams processed successfully/);
});

test("re-running create-streams sends nothing and changes nothing", async () => {
  await streamsCreated();
  const before = await Promise.all(
    ["AA_CORE_HOT", "AA_VENDOR_HOT", "AA_DLQ"].map((name) => nats.jsm.streams.info(name)),
  );
  let run = { code: -1 as number | null, out: "" };
  const sent = await mutationsDuring(async () => (run = await streams()));
  assert.equal(run.code, 0, run.out);
  assert.deepEqual(sent, []);
  for (const info of before) {
    const now = await nats.jsm.streams.info(info.config.name);
    assert.equal(now.created, info.created);
    assert.deepEqual(now.config, info.config);
    assert.match(run.out, new RegExp(`✓  Stream ${info.config.name} exists with correct config`));
  }
});

test("a hand-changed max_age is reported and corrected in place", async () => {
  await streamsCreated();
  const { config, created } = await nats.jsm.streams.info("AA_CORE_HOT");
  await nats.jsm.streams.update("AA_CORE_HOT", { ...config, max_age: nanos(24 * HOUR_MS) });
  let run = { code: -1 as number | null, out: "" };
  const sent = await mutationsDuring(async () => (run = await streams()));
  assert.equal(run.code, 0, run.out);
  assert.deepEqual(sent, ["$JS.API.STREAM.UPDATE.AA_CORE_HOT"]);
  assert.match(
    run.out,
    /🔄 Stream AA_CORE_HOT config differs\n {3}max_age: 24h → 48h\n✅ Stream AA_CORE_HOT updated successfully/,
  );
  const now = await nats.jsm.streams.info("AA_CORE_HOT");
  assert.equal(now.config.max_age, nanos(48 * HOUR_MS));
  assert.equal(now.created, created);
});

test("legacy ATHLETE_ALLY_EVENTS owning the subjects: exit 1, owner and migration named, nothing created", async () => {
  await nats.jsm.streams.add({ name: "ATHLETE_ALLY_EVENTS", subjects: LEGACY_SUBJECTS });
  let run = { code: -1 as number | null, out: "" };
  const sent = await mutationsDuring(async () => (run = await streams({ NODE_ENV: "staging", REPLICAS: "1" })));
  assert.equal(run.code, 1, run.out);
  assert.deepEqual(sent, []);
  assert.deepEqual(await streamNames(nats.jsm), ["ATHLETE_ALLY_EVENTS"]);
  assert.match(run.out, /athlete-ally\.> is owned by stream ATHLETE_ALLY_EVENTS/);
  assert.match(run.out, /vendor\.> is owned by stream ATHLETE_ALLY_EVENTS/);
  assert.match(run.out, /npx aa-ops migrate --to multi/);
  assert.deepEqual((await nats.jsm.streams.info("ATHLETE_ALLY_EVENTS")).config.subjects, LEGACY_SUBJECTS);
});

test("a stream whose storage differs is left alone and the run fails; the others are still created", async () => {
  await nats.jsm.streams.add({ name: "AA_DLQ", subjects: ["dlq.>"], storage: StorageType.Memory });
  const run = await streams();
  assert.equal(run.code, 1, run.out);
  assert.match(run.out, /⛔ Stream AA_DLQ differs in fields that are fixed at creation\n {3}storage: memory → file/);
  assert.equal((await nats.jsm.streams.info("AA_DLQ")).config.storage, StorageType.Memory);
  assert.deepEqual(await streamNames(nats.jsm), ["AA_CORE_HOT", "AA_DLQ", "AA_DLQ_ADVISORIES", "AA_VENDOR_HOT"]);
});

test("DRY_RUN=true prints the requests and changes nothing", async () => {
  let run = { code: -1 as number | null, out: "" };
  let sent = await mutationsDuring(async () => (run = await streams({ DRY_RUN: "true" })));
  assert.equal(run.code, 0, run.out);
  assert.deepEqual(sent, []);
  assert.deepEqual(await streamNames(nats.jsm), []);
  assert.match(run.out, /^Dry Run: {6}YES$/m);
  assert.match(run.out, /Would send: \$JS\.API\.STREAM\.CREATE\.AA_CORE_HOT \{"name":"AA_CORE_HOT"/);

  await streamsCreated();
  sent = await mutationsDuring(async () => (run = await consumers({ STREAM_NAME: "AA_CORE_HOT", DRY_RUN: "yes" })));
  assert.equal(run.code, 0, run.out);
  assert.deepEqual(sent, []);
  assert.deepEqual(await consumerNames(nats.jsm, "AA_CORE_HOT"), []);
});

test("invalid REPLICAS or EVENT_STREAM_MODE: one clear error, exit 1", async () => {
  const run = await streams({ REPLICAS: "0", EVENT_STREAM_MODE: "multy" });
  assert.equal(run.code, 1, run.out);
  assert.match(run.out, /REPLICAS must be a positive integer.*got "0"/);
  assert.match(run.out, /Invalid EVENT_STREAM_MODE="multy"/);
  assert.deepEqual(await streamNames(nats.jsm), []);
});

test("unreachable NATS: one line naming the URL, exit 1", async () => {
  const url = `nats://127.0.0.1:${await freePort()}`;
  const run = await runOpsScript("create-streams", { NATS_URL: url });
  assert.equal(run.code, 1, run.out);
  assert.match(run.out, new RegExp(`❌ Cannot connect to NATS at ${url.replace(/\./g, "\\.")}: `));
});

test("create-consumers on AA_CORE_HOT creates the HRV and Sleep durables as specified", async () => {
  await streamsCreated();
  const run = await consumers({ STREAM_NAME: "AA_CORE_HOT" });
  assert.equal(run.code, 0, run.out);
  assert.deepEqual(await consumerNames(nats.jsm, "AA_CORE_HOT"), ["normalize-hrv-durable", "normalize-sleep-durable"]);
  const filters = {
    "normalize-hrv-durable": "athlete-ally.hrv.raw-received",
    "normalize-sleep-durable": "athlete-ally.sleep.raw-received",
  };
  for (const [durable, filter] of Object.entries(filters)) {
    const { config } = await nats.jsm.consumers.info("AA_CORE_HOT", durable);
    assert.equal(config.filter_subject, filter);
    assert.equal(config.ack_policy, AckPolicy.Explicit);
    assert.equal(config.deliver_policy, DeliverPolicy.All);
    assert.equal(config.max_deliver, 5);
    assert.equal(config.ack_wait, nanos(60_000));
    assert.equal(config.max_ack_pending, 1000);
  }
  assert.match(run.out, /✓ {2}Stream AA_CORE_HOT exists\n {3}Subjects: athlete-ally\.>, sleep\.\*\n {3}Messages: 0/);
  assert.match(
    run.out,
    /➕ Consumer normalize-hrv-durable does not exist\n {3}Creating on stream: AA_CORE_HOT\n {3}Filter subject: athlete-ally\.hrv\.raw-received\n {3}Max deliver: 5, Ack wait: 60s\n✅ Consumer normalize-hrv-durable created successfully/,
  );
});

test("create-consumers on AA_VENDOR_HOT creates normalize-oura; re-runs send nothing", async () => {
  await streamsCreated();
  let run = await consumers({ STREAM_NAME: "AA_VENDOR_HOT" });
  assert.equal(run.code, 0, run.out);
  assert.deepEqual(await consumerNames(nats.jsm, "AA_VENDOR_HOT"), ["normalize-oura"]);
  const { config } = await nats.jsm.consumers.info("AA_VENDOR_HOT", "normalize-oura");
  assert.equal(config.ack_wait, nanos(15_000));
  assert.equal(config.filter_subject, "vendor.oura.webhook.received");
  assert.equal((await consumers({ STREAM_NAME: "AA_CORE_HOT" })).code, 0);

  for (const stream of ["AA_CORE_HOT", "AA_VENDOR_HOT"]) {
    const sent = await mutationsDuring(async () => (run = await consumers({ STREAM_NAME: stream })));
    assert.equal(run.code, 0, run.out);
    assert.deepEqual(sent, []);
    assert.doesNotMatch(run.out, /➕|🔄/);
  }
  assert.match(run.out, /✓ {2}Consumer normalize-oura exists with correct config/);
});

test("without STREAM_NAME every durable goes on the stream owning its subject", async () => {
  await nats.jsm.streams.add({ name: "ATHLETE_ALLY_EVENTS", subjects: LEGACY_SUBJECTS });
  const run = await consumers();
  assert.equal(run.code, 0, run.out);
  assert.deepEqual(await consumerNames(nats.jsm, "ATHLETE_ALLY_EVENTS"), [
    "normalize-hrv-durable",
    "normalize-oura",
    "normalize-sleep-durable",
  ]);
  assert.match(run.out, /npx aa-ops migrate --to multi/);
});

test("consumer drift: editable fields updated in place, fixed fields reported and left alone", async () => {
  await streamsCreated();
  await nats.jsm.consumers.add("AA_CORE_HOT", {
    durable_name: "normalize-hrv-durable",
    filter_subject: "athlete-ally.hrv.raw-received",
    ack_policy: AckPolicy.Explicit,
    max_deliver: 3,
  });
  await nats.jsm.consumers.add("AA_CORE_HOT", {
    durable_name: "normalize-sleep-durable",
    filter_subject: "athlete-ally.sleep.raw-received",
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.New,
  });
  const run = await consumers({ STREAM_NAME: "AA_CORE_HOT" });
  assert.equal(run.code, 1, run.out);
  assert.match(run.out, /max_deliver: 3 → 5/);
  assert.equal((await nats.jsm.consumers.info("AA_CORE_HOT", "normalize-hrv-durable")).config.max_deliver, 5);
  assert.match(run.out, /⛔ Consumer normalize-sleep-durable .*fixed at creation\n {3}deliver_policy: new → all/);
  assert.equal(
    (await nats.jsm.consumers.info("AA_CORE_HOT", "normalize-sleep-durable")).config.deliver_policy,
    DeliverPolicy.New,
  );
});

test("create-consumers on a missing stream: exit 1 and the command that creates it", async () => {
  const run = await consumers({ STREAM_NAME: "AA_CORE_HOT" });
  assert.equal(run.code, 1, run.out);
  assert.match(run.out, /❌ Stream AA_CORE_HOT does not exist/);
  assert.ok(run.out.includes(`NATS_URL=${nats.server.url} node create-streams.js`), run.out);
  assert.deepEqual(await streamNames(nats.jsm), []);
});
