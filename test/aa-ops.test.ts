import assert from "node:assert/strict";
import { test } from "node:test";
import { AckPolicy, DeliverPolicy, jetstream, type ConsumerInfo, type StreamInfo } from "@nats-io/jetstream";
import { headers, nanos } from "@nats-io/nats-core";
import { freePort } from "./helpers/nats.js";
import { aaOps as runAaOps, showRun as show, type CliRun } from "./helpers/cli.js";
import {
  consumerNames,
  emptyJetStreamPerTest,
  runOpsScript,
  streamNames,
  watchMutations,
} from "./helpers/ops-scripts.js";

const MULTI_STREAMS = ["AA_CORE_HOT", "AA_DLQ", "AA_DLQ_ADVISORIES", "AA_VENDOR_HOT"];
const DURABLES = ["normalize-hrv-durable", "normalize-oura", "normalize-sleep-durable"];
const LEGACY_SUBJECTS = ["athlete-ally.>", "vendor.>", "sleep.*"];

const nats = emptyJetStreamPerTest();

/** Runs the built CLI as an operator would, with a clean env (PATH, HOME, NATS_URL of our server, `env`). */
const aaOps = (args: string[], env: Record<string, string> = {}): Promise<CliRun> =>
  runAaOps(args, { NATS_URL: nats.server.url, ...env });

async function ok(args: string[], env?: Record<string, string>): Promise<CliRun> {
  const run = await aaOps(args, env);
  assert.equal(run.code, 0, show(run));
  return run;
}

/** Runs `action` and returns the topology-changing API requests it sent. */
async function mutationsDuring(action: () => Promise<unknown>): Promise<string[]> {
  const watch = watchMutations(nats.nc);
  await nats.nc.flush();
  await action();
  return (await watch.stop()).sort();
}

async function legacyServer(): Promise<void> {
  await nats.jsm.streams.add({ name: "ATHLETE_ALLY_EVENTS", subjects: LEGACY_SUBJECTS });
  await nats.jsm.consumers.add("ATHLETE_ALLY_EVENTS", {
    durable_name: "normalize-hrv-durable",
    filter_subject: "athlete-ally.hrv.raw-received",
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
  });
}

test("stream info --json is the server's StreamInfo: .state.messages counts what was published", async () => {
  await ok(["topology", "apply", "--mode", "multi"]);
  const js = jetstream(nats.nc);
  for (let i = 0; i < 7; i++) await js.publish("athlete-ally.hrv.raw-received", JSON.stringify({ i }));
  const info = JSON.parse((await ok(["stream", "info", "AA_CORE_HOT", "--json"])).stdout) as StreamInfo;
  assert.equal(info.state.messages, 7);
  assert.equal(info.config.name, "AA_CORE_HOT");
  assert.equal(info.config.num_replicas, 1);
  assert.deepEqual(info.config.subjects, ["athlete-ally.>", "sleep.*"]);

  const text = (await ok(["stream", "info", "AA_CORE_HOT"])).stdout;
  assert.match(text, /^ *Subjects: athlete-ally\.>, sleep\.\*$/m);
  assert.match(text, /^ *Max Age: 48h$/m);
  assert.match(text, /^ *Duplicate Window: 2m$/m);
  assert.match(text, /^ *Replicas \(num_replicas\): 1$/m);
  assert.match(text, /^ *Messages: 7$/m);
  assert.match(text, /^ *Last Sequence: 7 @ /m);
  assert.match((await ok(["stream", "info", "AA_DLQ"])).stdout, /^ *Max Age: 14d$/m);

  const ls = (await ok(["stream", "ls"])).stdout;
  assert.match(ls, /^AA_CORE_HOT +athlete-ally\.>, sleep\.\* +7 +\S+ B +2$/m);
  assert.match(ls, /^AA_VENDOR_HOT +vendor\.> +0 +0 B +1$/m);
});

test("stream get shows the subject, every header on its own line and the payload pretty-printed", async () => {
  await ok(["topology", "apply", "--mode", "multi"]);
  const h = headers();
  h.set("X-Dlq-Reason", "schema_invalid");
  h.set("X-Dlq-Original-Subject", "athlete-ally.hrv.raw-received");
  const payload = JSON.stringify({ userId: "u-1", rmssd: 55 });
  await jetstream(nats.nc).publish("dlq.normalize.hrv.raw-received.schema-invalid", payload, { headers: h });

  const text = (await ok(["stream", "get", "AA_DLQ", "1"])).stdout;
  assert.match(text, /^ *Subject: dlq\.normalize\.hrv\.raw-received\.schema-invalid$/m);
  assert.match(text, /^ *Sequence: 1$/m);
  assert.match(text, /^ {2}X-Dlq-Reason: schema_invalid$/m);
  assert.match(text, /^ {2}X-Dlq-Original-Subject: athlete-ally\.hrv\.raw-received$/m);
  assert.match(text, /^Payload:\n\{\n {2}"userId": "u-1",\n {2}"rmssd": 55\n\}$/m);

  const json = JSON.parse((await ok(["stream", "get", "AA_DLQ", "1", "--json"])).stdout);
  assert.equal(json.subject, "dlq.normalize.hrv.raw-received.schema-invalid");
  assert.equal(json.seq, 1);
  assert.equal(json.data, payload);
  assert.equal(json.headers["X-Dlq-Reason"], "schema_invalid");
  assert.ok(!Number.isNaN(Date.parse(json.time)), json.time);

  const missing = await aaOps(["stream", "get", "AA_DLQ", "2"]);
  assert.equal(missing.code, 1, show(missing));
  assert.equal(missing.stderr, "aa-ops: error: stream AA_DLQ has no message with sequence 2\n");
  assert.equal((await aaOps(["stream", "get", "AA_DLQ", "first"])).code, 2);
});

test("consumer info after the runbook's create-consumers: max_deliver 5, ack_wait 60s, explicit ack", async () => {
  assert.equal((await runOpsScript("create-streams", { NATS_URL: nats.server.url })).code, 0);
  const created = await runOpsScript("create-consumers", { NATS_URL: nats.server.url, STREAM_NAME: "AA_CORE_HOT" });
  assert.equal(created.code, 0, created.out);

  const info = JSON.parse(
    (await ok(["consumer", "info", "AA_CORE_HOT", "normalize-hrv-durable", "--json"])).stdout,
  ) as ConsumerInfo;
  assert.equal(info.config.max_deliver, 5);
  assert.equal(info.config.ack_wait, 60e9);
  assert.equal(info.config.filter_subject, "athlete-ally.hrv.raw-received");
  assert.equal(info.stream_name, "AA_CORE_HOT");

  // The runbook's "Expected:" block, line by line.
  const text = (await ok(["consumer", "info", "AA_CORE_HOT", "normalize-hrv-durable"])).stdout;
  assert.match(text, /^ *Filter Subject: athlete-ally\.hrv\.raw-received$/m);
  assert.match(text, /^ *Ack Policy: explicit$/m);
  assert.match(text, /^ *Max Deliver: 5$/m);
  assert.match(text, /^ *Ack Wait: 60s$/m);
  assert.match(text, /^ *Max Ack Pending: 1000$/m);

  const ls = (await ok(["consumer", "ls", "AA_CORE_HOT"])).stdout.split("\n");
  assert.match(ls[0] ?? "", /^Consumer +Filter Subject +Ack +Deliver +Max Deliver +Ack Wait/);
  assert.match(
    ls[1] ?? "",
    /^normalize-hrv-durable +athlete-ally\.hrv\.raw-received +explicit +all +5 +60s +1000 +0 +0 +0 +0$/,
  );
  assert.match(ls[2] ?? "", /^normalize-sleep-durable /);
  const lsJson = JSON.parse((await ok(["consumer", "ls", "AA_CORE_HOT", "--json"])).stdout) as ConsumerInfo[];
  assert.deepEqual(
    lsJson.map((c) => c.name),
    ["normalize-hrv-durable", "normalize-sleep-durable"],
  );

  const missing = await aaOps(["consumer", "info", "AA_CORE_HOT", "normalize-oura"]);
  assert.equal(missing.code, 1, show(missing));
  assert.equal(missing.stderr, "aa-ops: error: consumer normalize-oura not found on stream AA_CORE_HOT\n");
});

test("topology plan --mode multi on the legacy stream: needs_migration naming ATHLETE_ALLY_EVENTS, nothing sent", async () => {
  await legacyServer();
  let run: CliRun | undefined;
  const sent = await mutationsDuring(async () => (run = await aaOps(["topology", "plan", "--mode", "multi"])));
  assert.ok(run);
  assert.equal(run.code, 0, show(run));
  assert.deepEqual(sent, []);
  assert.match(
    run.stdout,
    /^ *needs_migration +AA_CORE_HOT\n +athlete-ally\.> is owned by stream ATHLETE_ALLY_EVENTS\n +sleep\.\* is owned by stream ATHLETE_ALLY_EVENTS$/m,
  );
  assert.match(run.stdout, /^ *needs_migration +AA_VENDOR_HOT\n +vendor\.> is owned by stream ATHLETE_ALLY_EVENTS$/m);
  assert.match(run.stdout, /^ *create +AA_DLQ$/m);
  // The durable is not "created" on a stream that cannot exist yet; where it lives now is said.
  assert.match(
    run.stdout,
    /^ *needs_migration +normalize-hrv-durable on AA_CORE_HOT\n.*until the migration.*\n +the durable normalize-hrv-durable exists now on ATHLETE_ALLY_EVENTS$/m,
  );
  assert.match(run.stdout, /^ *needs_migration +normalize-oura on AA_VENDOR_HOT$/m);

  const plan = JSON.parse((await ok(["topology", "plan", "--mode", "multi", "--json"])).stdout);
  const core = plan.streams.find((s: { stream: string }) => s.stream === "AA_CORE_HOT");
  assert.equal(core.kind, "needs_migration");
  assert.deepEqual(
    core.conflicts.map((c: { subject: string; ownedBy: string }) => [c.subject, c.ownedBy]),
    [
      ["athlete-ally.>", "ATHLETE_ALLY_EVENTS"],
      ["sleep.*", "ATHLETE_ALLY_EVENTS"],
    ],
  );
  const hrv = plan.consumers.find((c: { durable: string }) => c.durable === "normalize-hrv-durable");
  assert.deepEqual([hrv.kind, hrv.stream, hrv.elsewhere], ["needs_migration", "AA_CORE_HOT", ["ATHLETE_ALLY_EVENTS"]]);
});

test("topology apply --mode multi on the legacy stream: applies only the DLQ streams, lists what it skipped, exit 1", async () => {
  await legacyServer();
  let run: CliRun | undefined;
  const sent = await mutationsDuring(async () => (run = await aaOps(["topology", "apply", "--mode", "multi"])));
  assert.ok(run);
  assert.equal(run.code, 1, show(run));
  assert.deepEqual(sent, ["$JS.API.STREAM.CREATE.AA_DLQ", "$JS.API.STREAM.CREATE.AA_DLQ_ADVISORIES"]);
  assert.deepEqual(await streamNames(nats.jsm), ["AA_DLQ", "AA_DLQ_ADVISORIES", "ATHLETE_ALLY_EVENTS"]);
  assert.deepEqual((await nats.jsm.streams.info("ATHLETE_ALLY_EVENTS")).config.subjects, LEGACY_SUBJECTS);
  assert.deepEqual(await consumerNames(nats.jsm, "ATHLETE_ALLY_EVENTS"), ["normalize-hrv-durable"]);
  assert.match(
    run.stdout,
    /^⏭ +stream AA_CORE_HOT: skipped \(needs_migration\)\n +- athlete-ally\.> is owned by stream ATHLETE_ALLY_EVENTS$/m,
  );
  assert.match(run.stdout, /^⏭ +consumer normalize-hrv-durable on AA_CORE_HOT: skipped \(needs_migration\)$/m);
  assert.match(run.stdout, /^Apply: 2 applied, 0 unchanged, 5 skipped, 0 failed$/m);
});

test("topology apply --dry-run on an empty server prints the CREATE calls and sends nothing", async () => {
  let run: CliRun | undefined;
  const sent = await mutationsDuring(
    async () => (run = await aaOps(["topology", "apply", "--mode", "multi", "--dry-run"])),
  );
  assert.ok(run);
  assert.equal(run.code, 0, show(run));
  assert.deepEqual(sent, []);
  assert.deepEqual(await streamNames(nats.jsm), []);
  for (const name of MULTI_STREAMS) {
    const line: string | undefined = run.stdout
      .split("\n")
      .find((l) => l.includes(`Would send: $JS.API.STREAM.CREATE.${name} `));
    assert.ok(line, `no CREATE call for ${name}\n${run.stdout}`);
    const body = JSON.parse(line.slice(line.indexOf("{")));
    assert.equal(body.name, name);
    assert.equal(body.num_replicas, 1);
    assert.equal(body.max_age, nanos(name.startsWith("AA_DLQ") ? 14 * 24 * 3_600_000 : 48 * 3_600_000));
  }
  assert.match(
    run.stdout,
    /Would send: \$JS\.API\.CONSUMER\.CREATE\.AA_CORE_HOT\.normalize-hrv-durable\.athlete-ally\.hrv\.raw-received \{.*"max_deliver":5/,
  );
  assert.match(run.stdout, /^Dry run: nothing was sent to the server\.$/m);
});

test("topology apply creates the multi topology; a second apply sends nothing and recreates nothing", async () => {
  let first: CliRun | undefined;
  const created = await mutationsDuring(async () => (first = await aaOps(["topology", "apply", "--mode", "multi"])));
  assert.ok(first);
  assert.equal(first.code, 0, show(first));
  assert.equal(created.filter((s) => s.startsWith("$JS.API.STREAM.CREATE.")).length, 4, created.join("\n"));
  assert.equal(created.filter((s) => s.startsWith("$JS.API.CONSUMER.CREATE.")).length, 3, created.join("\n"));
  assert.deepEqual(await streamNames(nats.jsm), MULTI_STREAMS);
  assert.deepEqual(
    [...(await consumerNames(nats.jsm, "AA_CORE_HOT")), ...(await consumerNames(nats.jsm, "AA_VENDOR_HOT"))].sort(),
    DURABLES,
  );

  const before = await Promise.all(MULTI_STREAMS.map((name) => nats.jsm.streams.info(name)));
  const hrvBefore = await nats.jsm.consumers.info("AA_CORE_HOT", "normalize-hrv-durable");
  let second: CliRun | undefined;
  const again = await mutationsDuring(async () => (second = await aaOps(["topology", "apply", "--mode", "multi"])));
  assert.ok(second);
  assert.equal(second.code, 0, show(second));
  assert.deepEqual(again, []);
  assert.match(second.stdout, /^Apply: 0 applied, 7 unchanged, 0 skipped, 0 failed$/m);
  for (const info of before) assert.equal((await nats.jsm.streams.info(info.config.name)).created, info.created);
  assert.equal((await nats.jsm.consumers.info("AA_CORE_HOT", "normalize-hrv-durable")).created, hrvBefore.created);
});

test("a hand-changed max_age is planned as an update (current → desired) and applied in place", async () => {
  await ok(["topology", "apply", "--mode", "multi"]);
  const before = await nats.jsm.streams.info("AA_CORE_HOT");
  await nats.jsm.streams.update("AA_CORE_HOT", { max_age: nanos(24 * 3_600_000) });
  assert.match(
    (await ok(["topology", "plan", "--mode", "multi"])).stdout,
    /^ *update +AA_CORE_HOT\n +max_age: 24h → 48h$/m,
  );
  const sent = await mutationsDuring(() => ok(["topology", "apply", "--mode", "multi"]));
  assert.deepEqual(sent, ["$JS.API.STREAM.UPDATE.AA_CORE_HOT"]);
  const after = await nats.jsm.streams.info("AA_CORE_HOT");
  assert.equal(after.config.max_age, nanos(48 * 3_600_000));
  assert.equal(after.created, before.created);
});

test("names and replicas follow the env: STREAM_CORE_NAME and REPLICAS reach the plan", async () => {
  const run = await ok(["topology", "apply", "--mode", "multi", "--dry-run", "--json"], {
    STREAM_CORE_NAME: "X_CORE",
    REPLICAS: "3",
  });
  const { outcomes } = JSON.parse(run.stdout) as {
    outcomes: { name: string; call?: { api: string; body: { num_replicas?: number } } }[];
  };
  const core = outcomes.find((o) => o.name === "X_CORE");
  assert.equal(core?.call?.api, "$JS.API.STREAM.CREATE.X_CORE");
  assert.equal(core?.call?.body.num_replicas, 3);
  const bad = await aaOps(["topology", "plan", "--mode", "multi", "--replicas", "zero"]);
  assert.equal(bad.code, 2, show(bad));
  assert.match(bad.stderr, /^aa-ops: error: --replicas must be a positive integer .*got "zero"$/m);
});

test("errors: unknown stream exits 1 in one line; bad URL exits 1; --nats-url wins over NATS_URL", async () => {
  const unknown = await aaOps(["stream", "info", "NOPE"]);
  assert.equal(unknown.code, 1, show(unknown));
  assert.equal(unknown.stdout, "");
  assert.equal(unknown.stderr, "aa-ops: error: stream NOPE not found\n");
  assert.equal((await aaOps(["consumer", "ls", "NOPE"])).stderr, "aa-ops: error: stream NOPE not found\n");

  const deadUrl = `nats://127.0.0.1:${await freePort()}`;
  const down = await aaOps(["stream", "ls"], { NATS_URL: deadUrl });
  assert.equal(down.code, 1, show(down));
  assert.equal(down.stderr.trimEnd().split("\n").length, 1, down.stderr);
  assert.match(down.stderr, new RegExp(`^aa-ops: error: Cannot connect to NATS at ${deadUrl}`));
  await ok(["stream", "ls", "--nats-url", nats.server.url], { NATS_URL: deadUrl });
});

test("usage: --help lists the commands; unknown commands and options print usage and exit 2", async () => {
  const help = await ok(["--help"]);
  for (const cmd of [
    "stream ls",
    "stream info <stream>",
    "stream get <stream> <seq>",
    "consumer ls <stream>",
    "consumer info <stream> <consumer>",
    "topology plan",
    "topology apply",
    "migrate",
    "dlq ls",
    "dlq show <seq>",
    "dlq replay",
    "dlq purge",
  ]) {
    assert.match(help.stdout, new RegExp(`^  ${cmd.replace(/[<>]/g, ".")} `, "m"), cmd);
  }
  const applyHelp = (await ok(["topology", "apply", "--help"])).stdout;
  for (const option of ["--mode <single|multi>", "--replicas <n>", "--dry-run", "--nats-url <url>", "--json"])
    assert.ok(applyHelp.includes(option), option);

  for (const argv of [["strem", "ls"], ["stream", "rm", "AA_DLQ"], []]) {
    const run = await aaOps(argv);
    assert.equal(run.code, 2, `${argv.join(" ")}: ${show(run)}`);
    assert.match(run.stderr, /^Usage: aa-ops /m);
    assert.equal(run.stdout, "");
  }
  const noTarget = await aaOps(["migrate"]);
  assert.equal(noTarget.code, 2, show(noTarget));
  assert.match(noTarget.stderr, /--to is required/);
  const badOption = await aaOps(["stream", "ls", "--force"]);
  assert.equal(badOption.code, 2, show(badOption));
  assert.match(badOption.stderr, /--force/);
  const missingArg = await aaOps(["stream", "info"]);
  assert.equal(missingArg.code, 2, show(missingArg));
  assert.match(missingArg.stderr, /stream info takes <stream>, got none/);
  const noMode = await aaOps(["topology", "plan"]);
  assert.equal(noMode.code, 2, show(noMode));
  assert.match(noMode.stderr, /--mode is required/);
});
