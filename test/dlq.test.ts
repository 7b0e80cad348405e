import assert from "node:assert/strict";
import { truncate } from "node:fs/promises";
import { after, before, describe, test } from "node:test";
import { AckPolicy } from "@nats-io/jetstream";
import { EventSources, readingKey } from "@aa/contracts";
import { DEFAULT_TOPOLOGY_NAMES } from "@aa/event-bus";
import { dlqSubjectFits, refusalOf, replayableSubjects, type DlqEntry } from "@aa/ops";
import { aaOps, showRun as show, type CliRun } from "./helpers/cli.js";
import { dlqSeqs, hrvEvent, metricValue, seedDlq, startAaOps } from "./helpers/dlq.js";
import { durableStateFile } from "./helpers/nats.js";
import { createStack, postJson, type Stack } from "./helpers/stack.js";
import { waitFor } from "./helpers/wait.js";

const HRV = "athlete-ally.hrv.raw-received";
const SLEEP = "athlete-ally.sleep.raw-received";
const OURA = "vendor.oura.webhook.received";

/** `aa-ops dlq ls --json` prints the entries as the library reads them. */
type EntryJson = DlqEntry;

describe("the replay rule: only the pipeline's raw subjects, only from the matching DLQ subject", () => {
  const allowed = replayableSubjects(DEFAULT_TOPOLOGY_NAMES);

  test("the replayable subjects are the three durables' filter subjects", () => {
    assert.deepEqual([...allowed].sort(), [HRV, SLEEP, OURA].sort());
  });

  test("the DLQ subject must be dlq.<service>.<original without athlete-ally.>.<reason>", () => {
    assert.ok(dlqSubjectFits("dlq.normalize.hrv.raw-received.max-deliver", HRV));
    assert.ok(dlqSubjectFits("dlq.normalize.vendor.oura.webhook.received.not-linked", OURA));
    assert.ok(dlqSubjectFits("dlq.test.sleep.raw-received.schema-invalid", SLEEP));
    for (const [dlq, original] of [
      ["dlq.normalize.hrv.raw-received.max-deliver", SLEEP],
      ["dlq.normalize.hrv.raw-received", HRV],
      ["dlq.normalize.athlete-ally.hrv.raw-received.max-deliver", HRV],
      ["dlq.normalize.hrv.raw-received.max-deliver.extra", HRV],
      ["dlq.hrv.raw-received.max-deliver", HRV],
      ["other.normalize.hrv.raw-received.max-deliver", HRV],
      ["dlq.normalize.oura.webhook.received.not-linked", OURA],
    ] as const)
      assert.equal(dlqSubjectFits(dlq, original), false, `${dlq} for ${original}`);
  });

  test("each refusal names the header and why; a fitting entry has none", () => {
    const refusal = (subject: string, originalSubject: string) => refusalOf({ subject, originalSubject }, allowed);
    assert.equal(refusal("dlq.normalize.hrv.raw-received.max-deliver", HRV), undefined);
    assert.match(
      refusal("dlq.normalize.hrv.raw-received.non-retryable", "$JS.API.STREAM.DELETE.AA_CORE_HOT") ?? "",
      /^X-Dlq-Original-Subject "\$JS\.API\.STREAM\.DELETE\.AA_CORE_HOT" is not a raw subject the pipeline's durables consume/,
    );
    assert.match(
      refusal("dlq.normalize.onboarding.completed.max-deliver", "athlete-ally.onboarding.completed") ?? "",
      /is not a raw subject/,
    );
    assert.match(
      refusal("dlq.normalize.hrv.raw-received.max-deliver", "dlq.normalize.hrv.raw-received.max-deliver") ?? "",
      /is not a raw subject/,
    );
    assert.match(refusal("dlq.normalize.hrv.raw-received.max-deliver", "") ?? "", /^no X-Dlq-Original-Subject header/);
    assert.equal(
      refusal("dlq.normalize.hrv.raw-received.max-deliver", SLEEP),
      `X-Dlq-Original-Subject ${SLEEP} does not match the DLQ subject dlq.normalize.hrv.raw-received.max-deliver (expected dlq.<service>.sleep.raw-received.<reason>)`,
    );
  });
});

describe("dead-letter operations (aa-ops dlq)", () => {
  let stack: Stack;
  const cli = (...args: string[]) => aaOps(args, { NATS_URL: stack.nats.url });
  async function ok(...args: string[]): Promise<CliRun> {
    const run = await cli(...args);
    assert.equal(run.code, 0, show(run));
    return run;
  }
  const lsJson = async (...args: string[]) =>
    JSON.parse((await ok("dlq", "ls", "--json", ...args)).stdout) as EntryJson[];
  const rows = async (like: string) =>
    (
      await stack.db.pool.query<{ n: string; ids: string }>(
        "SELECT count(*) AS n, count(DISTINCT event_id) AS ids FROM hrv_data WHERE event_id LIKE $1",
        [like],
      )
    ).rows[0];
  const metric = (pattern: RegExp) => metricValue(stack.normalizeUrl, pattern);
  const emptyDlq = () => stack.jsm.streams.purge("AA_DLQ");

  before(async () => {
    stack = await createStack({ mode: "multi" });
    await stack.startNormalize();
    await stack.startIngest();
  });
  after(() => stack.close());

  test("50 events died: ls says why, the 40 valid are replayed at 100/s and stored once, the 10 left keep their reasons", async () => {
    await stack.db.pool.query("ALTER TABLE hrv_data ADD CONSTRAINT dlq_test_cap CHECK (rmssd < 40)");
    for (let i = 0; i < 40; i++) {
      const reply = await postJson(`${stack.ingestUrl}/ingest/hrv`, {
        userId: `t1-valid-${i}`,
        date: "2025-10-02",
        rmssd: 55,
        eventId: `t1-valid-${i}`,
      });
      assert.equal(reply.status, 202);
    }
    for (let i = 0; i < 10; i++)
      await stack.js.publish(HRV, JSON.stringify({ ...hrvEvent(`t1-bad-${i}`), date: "2025-13-45" }), {
        msgID: `t1-bad-${i}`,
      });
    await waitFor(async () => (await stack.jsm.streams.info("AA_DLQ")).state.messages === 50, {
      what: "50 dead letters",
      timeoutMs: 30_000,
    });

    const all = await lsJson("--limit", "100");
    assert.equal(all.length, 50);
    assert.deepEqual(
      all.map((e) => e.seq),
      [...all.map((e) => e.seq)].sort((a, b) => b - a),
      "newest first",
    );
    assert.equal(all.filter((e) => e.reason === "non_retryable").length, 40);
    assert.equal(all.filter((e) => e.reason === "schema_invalid").length, 10);
    const valid = all.find(
      (e) =>
        e.originalMsgId ===
        readingKey({ kind: "hrv", source: EventSources.anonymous, userId: "t1-valid-7", eventId: "t1-valid-7" }),
    );
    assert.ok(valid);
    assert.match(valid.error, /dlq_test_cap/);
    assert.deepEqual(
      [valid.originalSubject, valid.originalStream, valid.durable, valid.deliveryCount, valid.service],
      [HRV, "AA_CORE_HOT", "normalize-hrv-durable", 1, "normalize-service"],
    );
    assert.equal(typeof valid.originalSequence, "number");
    assert.ok(
      Date.parse(valid.originalPublishedAt) <= Date.parse(valid.failedAt),
      `${valid.originalPublishedAt} <= ${valid.failedAt}`,
    );

    const table = (await ok("dlq", "ls", "--reason", "schema_invalid")).stdout.trim().split("\n");
    assert.match(
      table[0] ?? "",
      /^Seq +Failed At +Published At +Reason +Original Subject +Original +Durable +Dlv +Service +Msg Id +Error$/,
    );
    assert.equal(
      table.filter((l) =>
        / schema_invalid +athlete-ally\.hrv\.raw-received +AA_CORE_HOT #\d+ +normalize-hrv-durable +1 +normalize-service +t1-bad-\d /.test(
          l,
        ),
      ).length,
      10,
    );
    await waitFor(async () => (await metric(/^dlq_depth_messages\{reason="non_retryable"\}/)) === 40, {
      what: "depth gauge",
      timeoutMs: 15_000,
    });
    assert.equal(await metric(/^dlq_depth_messages\{reason="schema_invalid"\}/), 10);

    await stack.db.pool.query("ALTER TABLE hrv_data DROP CONSTRAINT dlq_test_cap");
    const replay = JSON.parse(
      (await ok("dlq", "replay", "--reason", "non_retryable", "--rate", "100", "--json")).stdout,
    ) as { outcomes: { result: string; stream: string; streamSeq: number; deleted: boolean }[] };
    assert.equal(replay.outcomes.length, 40);
    assert.ok(replay.outcomes.every((o) => o.result === "republished" && o.deleted && o.stream === "AA_CORE_HOT"));
    const times = await Promise.all(
      replay.outcomes.map(async (o) =>
        (await stack.jsm.streams.getMessage("AA_CORE_HOT", { seq: o.streamSeq }))!.time.getTime(),
      ),
    );
    const spreadMs = Math.max(...times) - Math.min(...times);
    assert.ok(spreadMs >= 380 && spreadMs < 5_000, `40 messages at 100/s take about 0.39 s, took ${spreadMs} ms`);

    await waitFor(async () => (await rows("t1-valid-%"))?.n === "40", { what: "40 rows", timeoutMs: 20_000 });
    assert.deepEqual(await rows("t1-valid-%"), { n: "40", ids: "40" });
    const left = await lsJson();
    assert.equal(left.length, 10);
    assert.ok(
      left.every((e) => e.reason === "schema_invalid" && e.originalMsgId.startsWith("t1-bad-")),
      JSON.stringify(left),
    );
    await waitFor(async () => (await metric(/^dlq_replayed_total\{result="success"\}/)) === 40, {
      what: "dlq_replayed_total",
      timeoutMs: 10_000,
    });
    await waitFor(async () => (await metric(/^dlq_depth_messages\{reason="non_retryable"\}/)) === 0, {
      what: "depth back to 0",
      timeoutMs: 15_000,
    });

    // The dead-letter metrics under both names: every deprecated dlq_* sample has its event_bus_dlq_* twin.
    const samples = (await (await fetch(`${stack.normalizeUrl}/metrics`)).text()).split("\n");
    const deprecated = samples.filter((line) => /^dlq_(messages_total|depth_messages|replayed_total)\b/.test(line));
    assert.deepEqual(
      new Set(deprecated.map((line) => line.replace(/[{ ].*/, ""))),
      new Set(["dlq_messages_total", "dlq_depth_messages", "dlq_replayed_total"]),
    );
    const prefixed = samples.filter((line) => line.startsWith("event_bus_dlq_"));
    assert.deepEqual(
      prefixed.map((line) => line.replace(/^event_bus_/, "")),
      deprecated,
      "same series, same values",
    );
    assert.ok(prefixed.includes('event_bus_dlq_replayed_total{result="success"} 40'), prefixed.join("\n"));
  });

  test("filters select exactly what they say; show prints one entry; purge refuses without --yes", async () => {
    await emptyDlq();
    const seed = (reason: string, originalSubject: string, n: string) =>
      seedDlq(stack.js, { reason, originalSubject, msgId: `f-${n}`, payload: { n } });
    const a = await seed("schema_invalid", HRV, "a");
    const b = await seed("max_deliver", SLEEP, "b");
    const c = await seed("non_retryable", OURA, "c");
    // --since takes milliseconds: mid is the millisecond after c was stored, and d is seeded once it has passed.
    const cStoredMs = (await stack.jsm.streams.getMessage("AA_DLQ", { seq: c }))!.time.getTime();
    const mid = new Date(cStoredMs + 1).toISOString();
    await waitFor(() => Date.now() > cStoredMs + 1, { what: "the clock past mid", intervalMs: 1 });
    const d = await seed("max_deliver", HRV, "d");
    const e = await seed("schema_invalid", SLEEP, "e");
    const seqs = async (...args: string[]) => (await lsJson(...args)).map((x) => x.seq);

    assert.deepEqual(await seqs(), [e, d, c, b, a]);
    assert.deepEqual(await seqs("--subject", HRV), [d, a]);
    assert.deepEqual(await seqs("--subject", "athlete-ally.>"), [e, d, b, a]);
    assert.deepEqual(await seqs("--subject", "athlete-ally.*.raw-received"), [e, d, b, a]);
    assert.deepEqual(await seqs("--reason", "max-deliver"), [d, b]);
    assert.deepEqual(await seqs("--reason", "max_deliver", "--subject", SLEEP), [b]);
    assert.deepEqual(await seqs("--since", mid), [e, d]);
    assert.deepEqual(await seqs("--up-to", String(c)), [c, b, a]);
    assert.deepEqual(await seqs("--limit", "2"), [e, d]);
    assert.match(
      (await ok("dlq", "ls", "--limit", "2")).stdout,
      /^2 dead letters in AA_DLQ, newest first; more match \(raise --limit\)/m,
    );
    for (const bad of [
      ["--since", "yesterday"],
      ["--limit", "0"],
      ["--subject", "a.>.b"],
    ])
      assert.equal((await cli("dlq", "ls", ...bad)).code, 2, bad.join(" "));

    const one = (await ok("dlq", "show", String(b))).stdout;
    assert.match(one, /^ *Reason: max_deliver$/m);
    assert.match(one, /^ *Original Subject: athlete-ally\.sleep\.raw-received$/m);
    assert.match(one, /^ {2}X-Dlq-Original-Msg-Id: f-b$/m);
    assert.match(one, /^Payload \(9 bytes\):\n\{\n {2}"n": "b"\n\}$/m);
    const missing = await cli("dlq", "show", "999999");
    assert.equal(missing.code, 1, show(missing));
    assert.equal(missing.stderr, "aa-ops: error: stream AA_DLQ has no message with sequence 999999\n");

    const deletes: string[] = [];
    const sub = stack.nc.subscribe("$JS.API.STREAM.MSG.DELETE.>", {
      callback: (_err, msg) => void deletes.push(msg.subject),
    });
    const refused = await cli("dlq", "purge", "--reason", "max_deliver");
    await stack.nc.flush();
    assert.equal(refused.code, 2, show(refused));
    assert.deepEqual(deletes, [], "nothing deleted without --yes");
    assert.deepEqual(await seqs(), [e, d, c, b, a]);
    const command = `aa-ops dlq purge --reason max_deliver --up-to ${d} --yes`;
    assert.ok(refused.stderr.includes(`refusing to purge 2 dead letters from AA_DLQ without --yes`), refused.stderr);
    assert.ok(refused.stderr.includes(`\n  ${command}\n`), refused.stderr);
    const purged = await ok(...command.split(" ").slice(1));
    sub.unsubscribe();
    assert.match(
      purged.stdout,
      new RegExp(`^🗑  #${b} removed \\(max_deliver, ${SLEEP}, msg id f-b\\)\\n🗑  #${d} removed`, "m"),
    );
    assert.match(purged.stdout, /^Purge: 2 of 2 removed from AA_DLQ$/m);
    assert.deepEqual(await seqs(), [e, c, a]);
  });

  test("a schema-invalid message replayed without a fix comes back to the DLQ, marked as a replay", async () => {
    await emptyDlq();
    const payload = JSON.stringify({ ...hrvEvent("t3-poison"), rmssd: 0 });
    await stack.js.publish(HRV, payload, { msgID: "t3-poison" });
    const [first] = await waitFor(
      async () => {
        const seqs = await dlqSeqs(stack.jsm);
        return seqs.length === 1 ? seqs : undefined;
      },
      { what: "poison in the DLQ" },
    );
    const before = await metric(/^dlq_replayed_total\{result="schema_invalid"\}/);

    const run = await ok("dlq", "replay", "--subject", HRV);
    assert.match(
      run.stdout,
      new RegExp(`^✅ #${first} ${HRV} → AA_CORE_HOT #\\d+ as t3-poison:replay:${first}; DLQ entry deleted$`, "m"),
    );
    const [again] = await waitFor(
      async () => {
        const now = await lsJson();
        return now.length === 1 && now[0]?.seq !== first ? now : undefined;
      },
      { what: "the replay dead-lettered again" },
    );
    assert.ok(again);
    assert.deepEqual(
      [again.reason, again.replayedFrom, again.originalMsgId],
      ["schema_invalid", first, `t3-poison:replay:${first}`],
    );
    const copy = await stack.jsm.streams.getMessage("AA_DLQ", { seq: again.seq });
    assert.equal(new TextDecoder().decode(copy!.data), payload, "payload bytes untouched through DLQ, replay and DLQ");
    await waitFor(async () => (await metric(/^dlq_replayed_total\{result="schema_invalid"\}/)) === before + 1, {
      what: "replayed schema_invalid counted",
    });
    assert.match(
      (await ok("dlq", "replay", "--dry-run")).stdout,
      new RegExp(`^🔍 #${again.seq} would republish to ${HRV} as t3-poison:replay:${again.seq}$`, "m"),
    );
  });

  test("a max-deliver message replayed after the cause is fixed is stored once, however often it is replayed", async () => {
    await emptyDlq();
    await stack.db.pool.query("ALTER TABLE hrv_data RENAME TO hrv_data_away");
    try {
      await postJson(`${stack.ingestUrl}/ingest/hrv`, {
        userId: "t4",
        date: "2025-10-02",
        rmssd: 61,
        eventId: "t4-event",
      });
      await waitFor(async () => (await lsJson("--reason", "max_deliver")).length === 1, {
        what: "max-deliver dead letter",
        timeoutMs: 30_000,
      });
    } finally {
      await stack.db.pool.query("ALTER TABLE hrv_data_away RENAME TO hrv_data");
    }
    const [entry] = await lsJson("--reason", "max_deliver");
    assert.equal(entry?.deliveryCount, 5);

    assert.match(
      (await ok("dlq", "replay", "--reason", "max_deliver", "--keep")).stdout,
      /^✅ #\d+ .* as hrv:[\w-]+:replay:\d+; DLQ entry kept$/m,
    );
    await waitFor(async () => (await rows("t4-event"))?.n === "1", { what: "row after replay" });
    const stored = (await stack.db.pool.query("SELECT updated_at FROM hrv_data WHERE event_id = 't4-event'")).rows[0];
    assert.match(
      (await ok("dlq", "replay", "--reason", "max_deliver", "--keep")).stdout,
      /already in AA_CORE_HOT #\d+ \(msg id hrv:[\w-]+:replay:\d+ replayed before/,
    );
    // Past the duplicate window a replay gets through with its new id: normalize's guard makes it a no-op.
    const copy = await stack.jsm.streams.getMessage("AA_DLQ", { seq: entry!.seq });
    await stack.js.publish(HRV, copy!.data, { msgID: "t4-event:replay:outside-window" });
    await waitFor(
      async () => {
        const info = await stack.jsm.consumers.info("AA_CORE_HOT", "normalize-hrv-durable");
        return info.num_pending === 0 && info.num_ack_pending === 0;
      },
      { what: "late replay consumed" },
    );
    assert.deepEqual(await rows("t4-event"), { n: "1", ids: "1" });
    assert.deepEqual(
      (await stack.db.pool.query("SELECT updated_at FROM hrv_data WHERE event_id = 't4-event'")).rows[0],
      stored,
      "row untouched",
    );
    assert.match((await ok("dlq", "replay", "--reason", "max_deliver")).stdout, /; DLQ entry deleted$/m);
    assert.deepEqual(await lsJson("--reason", "max_deliver"), []);
  });

  test("replay stops at the first broker error (subject removed from its stream) and deletes nothing from there on", async () => {
    await emptyDlq();
    const a = await seedDlq(stack.js, {
      reason: "max_deliver",
      originalSubject: HRV,
      msgId: "t5-a",
      payload: hrvEvent("t5-a"),
    });
    const b = await seedDlq(stack.js, {
      reason: "max_deliver",
      originalSubject: OURA,
      msgId: "t5-b",
      payload: { webhook: "t5-b" },
    });
    const c = await seedDlq(stack.js, {
      reason: "max_deliver",
      originalSubject: HRV,
      msgId: "t5-c",
      payload: hrvEvent("t5-c"),
    });
    const vendor = (await stack.jsm.streams.info("AA_VENDOR_HOT")).config;
    await stack.jsm.streams.update("AA_VENDOR_HOT", { ...vendor, subjects: ["aa-test.parked.vendor"] });
    let run: CliRun;
    try {
      run = await cli("dlq", "replay");
    } finally {
      await stack.jsm.streams.update("AA_VENDOR_HOT", vendor);
    }
    assert.equal(run.code, 1, show(run));
    assert.match(
      run.stdout,
      new RegExp(`^✅ #${a} ${HRV} → AA_CORE_HOT #\\d+ as t5-a:replay:${a}; DLQ entry deleted$`, "m"),
    );
    assert.match(
      run.stdout,
      new RegExp(
        `^❌ #${b} ${OURA}: publish to ${OURA} failed: no stream captures ${OURA} \\(no responders\\); DLQ entry kept$`,
        "m",
      ),
    );
    assert.doesNotMatch(run.stdout, new RegExp(`^\\S+ +#${c} `, "m"), "nothing after the failure is attempted");
    assert.match(run.stdout, /; 1 DLQ entries deleted; 1 not attempted/);
    assert.deepEqual(await dlqSeqs(stack.jsm), [c, b]);
    await waitFor(async () => (await rows("t5-a"))?.n === "1", { what: "t5-a stored" });
    assert.equal((await rows("t5-c"))?.n, "0");

    await ok("dlq", "replay");
    assert.deepEqual(
      (await dlqSeqs(stack.jsm)).filter((s) => s <= c),
      [],
      "every entry replayed once the subject is back",
    );
    await waitFor(async () => (await rows("t5-c"))?.n === "1", { what: "t5-c stored" });
    const oura = await stack.jsm.streams.getMessage("AA_VENDOR_HOT", { last_by_subj: OURA });
    assert.equal(oura?.header.get("X-Dlq-Replayed-From"), String(b));
  });

  test("advisories: a term() by hand and a max-deliveries are captured with their stream sequence; our router's show as in DLQ or replayed", async () => {
    await stack.jsm.consumers.add("AA_CORE_HOT", {
      durable_name: "by-hand",
      ack_policy: AckPolicy.Explicit,
      filter_subject: "athlete-ally.onboarding.completed",
      max_deliver: 1,
    });
    const termed = (await stack.js.publish("athlete-ally.onboarding.completed", "{}")).seq;
    const naked = (await stack.js.publish("athlete-ally.onboarding.completed", "{}")).seq;
    const consumer = await stack.js.consumers.get("AA_CORE_HOT", "by-hand");
    (await consumer.next())?.term();
    (await consumer.next())?.nak();
    await consumer.next({ expires: 1_000 });
    const poisonSeq = (await stack.js.publish(HRV, JSON.stringify({ eventId: "t7-poison" }), { msgID: "t7-poison" }))
      .seq;

    type Row = {
      kind: string;
      stream: string;
      streamSeq: number;
      consumer: string;
      status: string;
      dlqSeq: number | null;
    };
    const advisories = async () =>
      JSON.parse((await ok("dlq", "ls", "--advisories", "--json", "--limit", "500")).stdout) as Row[];
    const find = (list: Row[], kind: string, seq: number) =>
      list.find((r) => r.kind === kind && r.stream === "AA_CORE_HOT" && r.streamSeq === seq);
    const list = await waitFor(
      async () => {
        const now = await advisories();
        return (
          find(now, "terminated", termed) &&
          find(now, "max_deliveries", naked) &&
          find(now, "terminated", poisonSeq) &&
          now
        );
      },
      { what: "advisories captured" },
    );
    assert.deepEqual(find(list, "terminated", termed), {
      ...find(list, "terminated", termed),
      consumer: "by-hand",
      status: "missing",
      dlqSeq: null,
    });
    assert.deepEqual(find(list, "max_deliveries", naked), {
      ...find(list, "max_deliveries", naked),
      consumer: "by-hand",
      status: "missing",
    });
    const poison = find(list, "terminated", poisonSeq);
    assert.equal(poison?.consumer, "normalize-hrv-durable");
    assert.equal(poison?.status, "in_dlq");
    const text = (await ok("dlq", "ls", "--advisories", "--limit", "500")).stdout;
    assert.match(text, new RegExp(`^\\d+ +\\S+ +terminated +AA_CORE_HOT +${termed} +by-hand +1 +NOT IN DLQ$`, "m"));
    assert.match(
      text,
      new RegExp(
        `^\\d+ +\\S+ +terminated +AA_CORE_HOT +${poisonSeq} +normalize-hrv-durable +1 +in DLQ #${poison?.dlqSeq}$`,
        "m",
      ),
    );

    await ok("dlq", "replay", "--up-to", String(poison?.dlqSeq), "--since", "1m", "--subject", HRV);
    await waitFor(async () => find(await advisories(), "terminated", poisonSeq)?.status === "replayed", {
      what: "marked replayed",
    });
    assert.equal(
      find(await advisories(), "terminated", termed)?.status,
      "missing",
      "the hand-terminated one still stands out",
    );
  });

  // Last in the file: on a replay that obeyed the forged header, AA_CORE_HOT would be gone for the tests after it.
  test("replay refuses an entry whose header names any other subject (a stream delete, another DLQ subject): listed, kept, exit 1; the valid ones still go", async () => {
    await emptyDlq();
    const FORGED = "$JS.API.STREAM.DELETE.AA_CORE_HOT";
    const HRV_NON_RETRYABLE = "dlq.normalize.hrv.raw-received.non-retryable";
    const good = await seedDlq(stack.js, {
      reason: "max_deliver",
      originalSubject: HRV,
      msgId: "t8-good",
      payload: hrvEvent("t8-good"),
    });
    const forged = await seedDlq(stack.js, {
      reason: "non_retryable",
      originalSubject: FORGED,
      msgId: "t8-forged",
      payload: {},
      dlqSubject: HRV_NON_RETRYABLE,
    });
    const crossed = await seedDlq(stack.js, {
      reason: "non_retryable",
      originalSubject: SLEEP,
      msgId: "t8-crossed",
      payload: { n: 1 },
      dlqSubject: HRV_NON_RETRYABLE,
    });
    const notRaw = await seedDlq(stack.js, {
      reason: "max_deliver",
      originalSubject: "athlete-ally.onboarding.completed",
      msgId: "t8-onboarding",
      payload: {},
    });
    const good2 = await seedDlq(stack.js, {
      reason: "max_deliver",
      originalSubject: HRV,
      msgId: "t8-good-2",
      payload: hrvEvent("t8-good-2"),
    });
    const refusedSeqs = [forged, crossed, notRaw];
    const sentToApi: string[] = [];
    const sub = stack.nc.subscribe("$JS.API.STREAM.DELETE.>", {
      callback: (_err, msg) => void sentToApi.push(msg.subject),
    });
    const coreBefore = (await stack.jsm.streams.info("AA_CORE_HOT")).state.last_seq;

    const dry = await cli("dlq", "replay", "--dry-run", "--json");
    assert.equal(dry.code, 1, show(dry));
    const planned = JSON.parse(dry.stdout) as { outcomes: { seq: number; result: string; detail?: string }[] };
    assert.deepEqual(
      planned.outcomes.map((o) => [o.seq, o.result]),
      [
        [forged, "refused"],
        [crossed, "refused"],
        [notRaw, "refused"],
        [good, "would_replay"],
        [good2, "would_replay"],
      ],
    );
    assert.match(
      dry.stderr,
      new RegExp(
        `^aa-ops: error: refused 3 dead letters \\(#${forged}, #${crossed}, #${notRaw}\\): nothing was sent for them, they stay in AA_DLQ`,
        "m",
      ),
    );
    assert.match(dry.stderr, /^The other selected entries went ahead: 2 would be replayed/m);
    assert.equal((await stack.jsm.streams.info("AA_CORE_HOT")).state.last_seq, coreBefore, "a dry run sends nothing");

    const run = await cli("dlq", "replay");
    await stack.nc.flush();
    sub.unsubscribe();
    assert.equal(run.code, 1, show(run));
    assert.deepEqual(sentToApi, [], "nothing was published to the JetStream API");
    assert.ok(await stack.jsm.streams.info("AA_CORE_HOT"), "AA_CORE_HOT still exists");
    const refusedLine = (seq: number, why: string) =>
      new RegExp(`^⛔ #${seq} refused, nothing sent, DLQ entry kept: ${why}`, "m");
    assert.match(
      run.stdout,
      refusedLine(
        forged,
        'X-Dlq-Original-Subject "\\$JS\\.API\\.STREAM\\.DELETE\\.AA_CORE_HOT" is not a raw subject the pipeline\'s durables consume',
      ),
    );
    assert.match(
      run.stdout,
      refusedLine(crossed, `X-Dlq-Original-Subject ${SLEEP} does not match the DLQ subject ${HRV_NON_RETRYABLE}`),
    );
    assert.match(
      run.stdout,
      refusedLine(notRaw, 'X-Dlq-Original-Subject "athlete-ally\\.onboarding\\.completed" is not a raw subject'),
    );
    for (const [seq, id] of [
      [good, "t8-good"],
      [good2, "t8-good-2"],
    ] as const) {
      assert.match(
        run.stdout,
        new RegExp(`^✅ #${seq} ${HRV} → AA_CORE_HOT #\\d+ as ${id}:replay:${seq}; DLQ entry deleted$`, "m"),
      );
    }
    assert.match(
      run.stdout,
      /^Replay: 2 republished, 0 duplicate, 0 would_replay, 3 refused, 0 failed; 2 DLQ entries deleted; 0 not attempted/m,
    );
    assert.match(run.stderr, /^aa-ops: error: refused 3 dead letters .*they stay in AA_DLQ; each ⛔ line says why\.$/m);
    assert.match(run.stderr, /^The other selected entries went ahead: 2 replayed \(✅ lines\)\.$/m);
    assert.match(
      run.stderr,
      /aa-ops dlq show <seq>; once understood, remove it with: aa-ops dlq purge --up-to <seq> --limit 1 --yes$/m,
    );
    assert.deepEqual(await dlqSeqs(stack.jsm), [...refusedSeqs].reverse(), "the refused entries stay in the DLQ");
    await waitFor(async () => (await rows("t8-good%"))?.n === "2", { what: "both valid entries stored" });

    // Filters still select before the rule: only HRV entries, so nothing to refuse and exit 0.
    const third = await seedDlq(stack.js, {
      reason: "non_retryable",
      originalSubject: HRV,
      msgId: "t8-good-3",
      payload: hrvEvent("t8-good-3"),
    });
    const byReason = await cli("dlq", "replay", "--reason", "non_retryable", "--subject", HRV);
    assert.equal(byReason.code, 0, show(byReason));
    assert.match(
      byReason.stdout,
      /^Replay: 1 republished, 0 duplicate, 0 would_replay, 0 refused, 0 failed; 1 DLQ entries deleted/m,
    );
    assert.deepEqual(await dlqSeqs(stack.jsm), [...refusedSeqs].reverse());
    assert.ok(!(await dlqSeqs(stack.jsm)).includes(third));
    const purgeHint = await ok("dlq", "purge", "--up-to", String(forged), "--limit", "1", "--yes");
    assert.match(
      purgeHint.stdout,
      new RegExp(
        `^🗑  #${forged} removed \\(non_retryable, \\$JS\\.API\\.STREAM\\.DELETE\\.AA_CORE_HOT, msg id t8-forged\\)$`,
        "m",
      ),
    );
    assert.deepEqual(await dlqSeqs(stack.jsm), [notRaw, crossed]);
  });
});

// A broker of its own: what the crash does to the durables must meet only this test's events. On a shared
// broker the earlier tests' schema-invalid events (10 in the first test, 2 in the poison test) sit in
// AA_CORE_HOT; once the crash wipes the HRV durable's state, normalize consumes the stream from the start and
// dead-letters those 12 again, after (or during) the finishing replay, which then leaves them in AA_DLQ.
describe("dead-letter operations across a broker crash (aa-ops dlq replay)", () => {
  let stack: Stack;
  const cli = (...args: string[]) => aaOps(args, { NATS_URL: stack.nats.url });
  const rows = async (like: string) =>
    (
      await stack.db.pool.query<{ n: string; ids: string }>(
        "SELECT count(*) AS n, count(DISTINCT event_id) AS ids FROM hrv_data WHERE event_id LIKE $1",
        [like],
      )
    ).rows[0];

  before(async () => {
    stack = await createStack({ mode: "multi" });
    await stack.startNormalize();
  });
  after(() => stack.close());

  test("a broker outage midway through a replay loses nothing, even when the crash wipes a durable's state; the same command finishes the job", async () => {
    for (let i = 0; i < 20; i++)
      await seedDlq(stack.js, {
        reason: "max_deliver",
        originalSubject: HRV,
        msgId: `t6-${i}`,
        payload: hrvEvent(`t6-${i}`),
      });
    const replay = startAaOps(stack.nats.url, ["dlq", "replay", "--rate", "10"]);
    await waitFor(async () => (await stack.jsm.streams.info("AA_DLQ")).state.messages <= 16, {
      what: "replay under way",
      timeoutMs: 10_000,
      intervalMs: 20,
    });
    await stack.nats.kill();
    const interrupted = await Promise.race([
      replay.done,
      new Promise<undefined>((resolve) => setTimeout(resolve, 30_000)),
    ]);
    // The worst a SIGKILL can do to nats-server 2.9: it rewrites a durable's state with os.WriteFile (truncate,
    // then write), so a kill in between leaves the file empty and the durable restarts from the stream's first
    // message. Rare by chance (it failed CI once), so made certain here: the outcome must be the same.
    await truncate(durableStateFile(stack.nats.storeDir, "AA_CORE_HOT", DEFAULT_TOPOLOGY_NAMES.hrvDurable), 0);
    await stack.nats.start();
    await waitFor(() => stack.jsm.streams.info("AA_DLQ"), {
      what: "the test's own connection back",
      timeoutMs: 30_000,
      intervalMs: 500,
    });
    assert.ok(interrupted, "the CLI exits during an outage instead of hanging");
    assert.equal(interrupted.code, 1, show(interrupted));
    // The kill may land on the publish, the audit record or the delete: each stops the run.
    assert.match(
      interrupted.stdout,
      /^❌ #\d+ athlete-ally\.hrv\.raw-received: .*DLQ entry (kept|deletion unconfirmed)$/m,
    );

    const finish = await waitFor(
      async () => {
        const run = await cli("dlq", "replay");
        return run.code === 0 ? run : undefined;
      },
      { what: "replay after the outage", timeoutMs: 30_000, intervalMs: 1_000 },
    );
    assert.match(finish.stdout, /Replay: \d+ republished, \d+ duplicate, 0 would_replay, 0 refused, 0 failed/);
    const left = await stack.jsm.streams.info("AA_DLQ", { subjects_filter: ">" });
    assert.equal(left.state.messages, 0, `${show(finish)}\nstill in AA_DLQ: ${JSON.stringify(left.state.subjects)}`);
    await waitFor(async () => (await rows("t6-%"))?.n === "20", { what: "20 rows", timeoutMs: 30_000 });
    assert.deepEqual(await rows("t6-%"), { n: "20", ids: "20" });
  });
});
