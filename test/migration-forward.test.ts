// The rollback that does not need the new normalize: after a handoff to multi, with no normalize
// running, `aa-ops migrate --to single --forward-unprocessed` carries every unprocessed hot-stream
// message (held unacked by a crashed worker, or never delivered) to the legacy subjects in the 1.0
// envelope, once, with its msg id; a second run changes nothing.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { connect } from "@nats-io/transport-node";
import { DeliverPolicy, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { DEFAULT_TOPOLOGY_NAMES } from "@aa/event-bus";
import { migrate, type ForwardLedger as Ledger } from "@aa/ops";
import { startNats, type PrivateNats } from "./helpers/nats.js";
import { applyTopology } from "./helpers/stack.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const names = DEFAULT_TOPOLOGY_NAMES;
const HRV = "athlete-ally.hrv.raw-received";
const SLEEP = "athlete-ally.sleep.raw-received";
const OURA = "vendor.oura.webhook.received";

interface Copy {
  subject: string;
  msgId: string;
  body: Record<string, unknown>;
}

describe("migrate --to single --forward-unprocessed (normalize broken after the handoff)", () => {
  let nats: PrivateNats;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  before(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.url });
    jsm = await jetstreamManager(nc);
    await applyTopology(jsm, "single");
  });
  after(async () => {
    await nc.close();
    await nats.stop();
  });

  const aaOps = async (args: string[]) => {
    try {
      const { stdout } = await promisify(execFile)(
        process.execPath,
        ["tools/ops/dist/cli.js", ...args, "--nats-url", nats.url, "--skip-health-check"],
        { cwd: ROOT, timeout: 180_000 },
      );
      return { code: 0, out: stdout };
    } catch (error) {
      const e = error as { code?: number; stdout?: string; stderr?: string };
      return { code: e.code ?? 1, out: `${e.stdout ?? ""}${e.stderr ?? ""}` };
    }
  };

  /** Every message the legacy stream holds on the pipeline's subjects, in order. */
  async function legacyCopies(): Promise<Copy[]> {
    const copies: Copy[] = [];
    const info = await jsm.streams.info(names.legacy);
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const m = await jsm.streams.getMessage(names.legacy, { seq });
      if (!m || ![HRV, SLEEP, OURA].includes(m.subject)) continue;
      copies.push({ subject: m.subject, msgId: m.header.get("Nats-Msg-Id"), body: m.json() });
    }
    return copies;
  }

  test(
    "every unprocessed message lands on its legacy subject once, same msg id, no source",
    { timeout: 300_000 },
    async () => {
      const handoff = await aaOps(["migrate", "--to", "multi", "--drain-timeout", "30"]);
      assert.equal(handoff.code, 0, handoff.out);

      // The new ingest's events (with source), published while the new normalize is down.
      const js = jsm.jetstream();
      const sent = new Map<string, { subject: string; eventId: string }>();
      const receivedAt = new Date().toISOString();
      for (let i = 0; i < 30; i++) {
        const subject = i % 3 === 0 ? SLEEP : HRV;
        const kind = subject === SLEEP ? "sleep" : "hrv";
        const eventId = `fwd-${i}`;
        const event =
          kind === "hrv"
            ? { userId: `u-${i}`, date: "2026-12-01", rmssd: 50, eventId, receivedAt, source: "tenant:acme" }
            : {
                userId: `u-${i}`,
                date: "2026-12-01",
                durationMinutes: 420,
                eventId,
                receivedAt,
                source: "tenant:acme",
              };
        const msgId = `${kind}:digest-${i}`;
        const ack = await js.publish(subject, JSON.stringify(event), { msgID: msgId });
        assert.equal(ack.stream, names.core);
        sent.set(msgId, { subject, eventId });
      }
      const ouraId = "oura:notification-1";
      const oura = {
        notificationId: ouraId,
        eventType: "create",
        dataType: "sleep",
        objectId: "doc-1",
        eventTime: receivedAt,
        ouraUserId: "oura-user-1",
        receivedAt,
      };
      assert.equal((await js.publish(OURA, JSON.stringify(oura), { msgID: ouraId })).stream, names.vendor);

      // A crashed worker: 8 HRV messages delivered and never acked. They come back after the ack wait
      // (a minute in production, 10 s here).
      const hrvDurable = await jsm.consumers.info(names.core, names.hrvDurable);
      await jsm.consumers.update(names.core, names.hrvDurable, { ...hrvDurable.config, ack_wait: 10_000_000_000 });
      const crashed = await (await js.consumers.get(names.core, names.hrvDurable)).fetch({ max_messages: 8 });
      let held = 0;
      for await (const _m of crashed) if (++held === 8) break;
      assert.equal((await jsm.consumers.info(names.core, names.hrvDurable)).num_ack_pending, 8);
      const all = sent.size + 1;

      // Interrupted between a copy's PubAck and its ack: the report says it stopped; nothing is lost.
      const interrupted = await migrate(jsm, {
        to: "single",
        names,
        replicas: 1,
        dryRun: false,
        health: [],
        allowUnknownConsumers: false,
        drainIgnore: [],
        drainTimeoutMs: 60_000,
        pollMs: 200,
        forwardUnprocessed: true,
        interruptForwardAfterCopies: 5,
        write: () => undefined,
      });
      assert.equal(interrupted.ok, false);
      assert.match(interrupted.error ?? "", /interrupted after 5 copies/);
      assert.equal((await legacyCopies()).length, 5);

      // The re-run finds the fifth again (a duplicate PubAck: stored once), waits for the held ones, acks all.
      const rollback = await aaOps(["migrate", "--to", "single", "--forward-unprocessed", "--json"]);
      assert.equal(rollback.code, 0, rollback.out);
      const report = JSON.parse(rollback.out) as { ok: boolean; forwarded: Ledger[] };
      const sum = (key: keyof Ledger) => report.forwarded.reduce((n, l) => n + (l[key] as number), 0);
      assert.deepEqual(
        ["found", "forwarded", "pubAckNew", "pubAckDuplicate", "acked", "left"].map((k) => sum(k as keyof Ledger)),
        [all - 4, all - 4, all - 5, 1, all - 4, 0],
        rollback.out,
      );
      assert.equal(sum("downConverted"), sent.size - 4);

      const copies = await legacyCopies();
      assert.equal(copies.length, all, "each message once on the legacy stream");
      for (const [msgId, original] of sent) {
        const copy = copies.filter((c) => c.msgId === msgId);
        assert.equal(copy.length, 1, `${msgId} once`);
        assert.equal(copy[0]!.subject, original.subject);
        assert.equal(copy[0]!.body.eventId, original.eventId);
        assert.equal("source" in copy[0]!.body, false, `${msgId} in the 1.0 envelope`);
      }
      assert.deepEqual(copies.find((c) => c.msgId === ouraId)?.body, oura, "Oura notifications unchanged");

      for (const [stream, durable] of [
        [names.core, names.hrvDurable],
        [names.core, names.sleepDurable],
        [names.vendor, names.ouraDurable],
      ] as const) {
        const info = await jsm.consumers.info(stream, durable);
        assert.equal(info.num_pending + info.num_ack_pending, 0, `${stream}/${durable} drained`);
      }
      // The 1.0 normalize reads them through the legacy durables from where they stopped.
      const legacy = await jsm.consumers.info(names.legacy, names.hrvDurable);
      assert.equal(legacy.config.deliver_policy, DeliverPolicy.All);
      assert.equal(legacy.num_pending, [...sent.values()].filter((s) => s.subject === HRV).length);

      const again = await aaOps(["migrate", "--to", "single", "--forward-unprocessed", "--json"]);
      assert.equal(again.code, 0, again.out);
      const second = JSON.parse(again.out) as { forwarded: Ledger[] };
      assert.ok(
        second.forwarded.every((l) => l.found === 0 && l.forwarded === 0 && l.left === 0),
        again.out,
      );
      assert.equal((await legacyCopies()).length, copies.length, "a second run adds nothing");
    },
  );

  test("--forward-unprocessed is refused with --to multi", async () => {
    const run = await aaOps(["migrate", "--to", "multi", "--forward-unprocessed"]);
    assert.equal(run.code, 2, run.out);
    assert.match(run.out, /--forward-unprocessed is a rollback path: it goes with --to single only/);
  });
});
