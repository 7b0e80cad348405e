// The gates of `aa-ops migrate` a production change depends on: it refuses to cut off
// consumers it does not know, its pre-flight says which health failures are safe to skip, and
// --drain-ignore lets a durable nothing consumes stay behind.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { connect } from "@nats-io/transport-node";
import { AckPolicy, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { DEFAULT_TOPOLOGY_NAMES } from "@aa/event-bus";
import { healthFailureMessage, healthVerdict, migrate, type HealthTarget } from "@aa/ops";
import { startNats, type PrivateNats } from "./helpers/nats.js";
import { watchMutations } from "./helpers/ops-scripts.js";
import { applyTopology } from "./helpers/stack.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const names = DEFAULT_TOPOLOGY_NAMES;
const NORMALIZE: HealthTarget = { service: "normalize", url: "http://normalize-service.production:4102/health" };
const INGEST: HealthTarget = { service: "ingest", url: "http://ingest-service.production:9101/health" };

describe("migrate pre-flight: which health failures are safe to skip", () => {
  const message = (target: HealthTarget, answer: Parameters<typeof healthVerdict>[1]) =>
    healthFailureMessage(target, healthVerdict(target, answer));

  test("ingest without NATS: safe, the move does not make its publishes fail more", () => {
    const text = message(INGEST, {
      status: 503,
      body: { status: "unhealthy", service: "ingest", eventBus: "reconnecting" },
    });
    assert.match(
      text,
      /^http:\/\/ingest-service\.production:9101\/health is not healthy \(HTTP 503, eventBus "reconnecting"\); safe to re-run with --skip-health-check/,
    );
  });

  test("normalize without PostgreSQL: safe, but the image must not be rolled back before the drain", () => {
    const body = { status: "unhealthy", services: { database: "disconnected", nats: "connected" }, consumers: [] };
    const text = message(NORMALIZE, { status: 503, body });
    assert.match(text, /database "disconnected"/);
    assert.match(text, /safe to re-run with --skip-health-check: normalize cannot write to PostgreSQL/);
    assert.match(text, /do not roll the image back before this command reports the source durables drained/);
  });

  test("normalize degraded (no primary binding, a half-done migration): safe", () => {
    const body = { status: "degraded", services: { database: "connected", nats: "connected" }, consumers: [] };
    assert.match(
      message(NORMALIZE, { status: 503, body }),
      /safe to re-run with --skip-health-check: a durable has no primary binding/,
    );
  });

  test("no normalize answers at all: the move is safe, the drain needs a pod of this image", () => {
    const text = message(NORMALIZE, { error: "connect ECONNREFUSED 10.0.0.7:4102" });
    assert.match(text, /no answer \(connect ECONNREFUSED/);
    assert.match(text, /safe to re-run with --skip-health-check: no normalize pod answers/);
  });

  test("something that is not the service's /health (wrong port: ADMIN_PORT): not safe to skip", () => {
    const text = message(INGEST, { status: 404, body: { message: "Route GET:/health not found" } });
    assert.match(text, /HTTP 404 without the service.s health body\); do NOT pass --skip-health-check yet/);
    assert.match(text, /--ingest-admin-url/);
  });
});

describe("migrate gates against a real NATS", () => {
  let nats: PrivateNats;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let unhealthy: Server;
  let unhealthyUrl: string;
  before(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.url });
    jsm = await jetstreamManager(nc);
    await applyTopology(jsm, "single");
    // Another team's reader of the legacy stream: the handoff would cut it off.
    await jsm.consumers.add(names.legacy, {
      durable_name: "analytics-reader",
      ack_policy: AckPolicy.Explicit,
      filter_subject: "athlete-ally.hrv.raw-received",
    });
    // An Oura webhook nobody consumes (normalize runs without Oura): normalize-oura never drains.
    await jsm
      .jetstream()
      .publish("vendor.oura.webhook.received", JSON.stringify({ probe: "oura" }), { msgID: "gates-oura-1" });
    // normalize's /health while PostgreSQL is down.
    unhealthy = createServer((_req, res) => {
      res.writeHead(503, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          status: "unhealthy",
          services: { database: "disconnected", nats: "connected" },
          consumers: [],
        }),
      );
    });
    await new Promise<void>((resolve) => unhealthy.listen(0, "127.0.0.1", resolve));
    unhealthyUrl = `http://127.0.0.1:${(unhealthy.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise((resolve) => unhealthy.close(resolve));
    await nc.close();
    await nats.stop();
  });

  const legacySubjects = async () => (await jsm.streams.info(names.legacy)).config.subjects.sort();
  const aaOps = async (args: string[]) => {
    try {
      const { stdout } = await promisify(execFile)(
        process.execPath,
        ["tools/ops/dist/cli.js", ...args, "--nats-url", nats.url],
        { cwd: ROOT, timeout: 60_000 },
      );
      return { code: 0, out: stdout };
    } catch (error) {
      const e = error as { code?: number; stdout?: string; stderr?: string };
      return { code: e.code ?? 1, out: `${e.stdout ?? ""}${e.stderr ?? ""}` };
    }
  };

  test("an unhealthy normalize stops the pre-flight with the reason and the skip advice; nothing moves", async () => {
    const lines: string[] = [];
    const health: HealthTarget[] = [{ service: "normalize", url: `${unhealthyUrl}/health` }];
    const report = await migrate(jsm, {
      to: "multi",
      names,
      replicas: 1,
      dryRun: false,
      health,
      allowUnknownConsumers: true,
      drainIgnore: [],
      drainTimeoutMs: 5_000,
      pollMs: 200,
      write: (l) => lines.push(l),
    });
    assert.equal(report.ok, false);
    assert.match(
      report.error ?? "",
      /database "disconnected", nats "connected"\); safe to re-run with --skip-health-check/,
    );
    assert.deepEqual(await legacySubjects(), ["athlete-ally.>", "sleep.*", "vendor.>"]);
  });

  test("an unknown consumer on the source stream: migrate refuses, names it and the check, changes nothing", async () => {
    const refused = await aaOps(["migrate", "--to", "multi", "--skip-health-check"]);
    assert.equal(refused.code, 1, refused.out);
    assert.match(refused.out, /ATHLETE_ALLY_EVENTS\/analytics-reader \(filter athlete-ally\.hrv\.raw-received\)/);
    assert.match(refused.out, /aa-ops consumer ls ATHLETE_ALLY_EVENTS/);
    assert.match(refused.out, /--allow-unknown-consumers/);
    assert.deepEqual(await legacySubjects(), ["athlete-ally.>", "sleep.*", "vendor.>"]);
    assert.equal(await jsm.streams.info(names.core).catch(() => undefined), undefined, "no target stream created");
  });

  test("--dry-run prints every change as topology apply does, each handoff on what the one before leaves; sends nothing", async () => {
    const mutations = watchMutations(nc);
    const dry = await aaOps([
      "migrate",
      "--to",
      "multi",
      "--skip-health-check",
      "--allow-unknown-consumers",
      "--dry-run",
    ]);
    assert.deepEqual(await mutations.stop(), [], "nothing sent");
    assert.equal(dry.code, 0, dry.out);
    const sent = dry.out.split("\n").filter((line) => line.startsWith("   Would send: "));
    assert.deepEqual(
      sent.map((line) => line.split(" ")[5]),
      [
        "$JS.API.STREAM.CREATE.AA_CORE_HOT",
        "$JS.API.STREAM.CREATE.AA_VENDOR_HOT",
        "$JS.API.STREAM.UPDATE.ATHLETE_ALLY_EVENTS",
        "$JS.API.STREAM.UPDATE.AA_CORE_HOT",
        "$JS.API.STREAM.UPDATE.ATHLETE_ALLY_EVENTS",
        "$JS.API.STREAM.UPDATE.AA_VENDOR_HOT",
        "$JS.API.CONSUMER.CREATE.AA_CORE_HOT.normalize-hrv-durable.athlete-ally.hrv.raw-received",
        "$JS.API.CONSUMER.CREATE.AA_CORE_HOT.normalize-sleep-durable.athlete-ally.sleep.raw-received",
        "$JS.API.CONSUMER.CREATE.AA_VENDOR_HOT.normalize-oura.vendor.oura.webhook.received",
      ],
    );
    assert.match(
      dry.out,
      /^🔍 stream AA_CORE_HOT: would create\n {3}Would send: \S+ \{.*"subjects":\["aa-ops\.parked\.AA_CORE_HOT"\]/m,
    );
    // The second handoff takes vendor.> from what the first left on the legacy stream: only the placeholder remains.
    assert.match(
      dry.out,
      /^ {3}Would send: \$JS\.API\.STREAM\.UPDATE\.ATHLETE_ALLY_EVENTS \{"name":"ATHLETE_ALLY_EVENTS","subjects":\["aa-ops\.parked\.ATHLETE_ALLY_EVENTS"\]\}$/m,
    );
    assert.deepEqual(await legacySubjects(), ["athlete-ally.>", "sleep.*", "vendor.>"]);
  });

  test("--allow-unknown-consumers moves with a warning; --drain-ignore leaves the unconsumed Oura backlog behind", async () => {
    const moved = await aaOps([
      "migrate",
      "--to",
      "multi",
      "--skip-health-check",
      "--allow-unknown-consumers",
      "--drain-ignore",
      "normalize-oura",
      "--drain-timeout",
      "5",
      "--json",
    ]);
    assert.equal(moved.code, 0, moved.out);
    const report = JSON.parse(moved.out) as { ok: boolean; unknownConsumers: { stream: string; name: string }[] };
    assert.equal(report.ok, true);
    assert.deepEqual(
      report.unknownConsumers.map((c) => `${c.stream}/${c.name}`),
      ["ATHLETE_ALLY_EVENTS/analytics-reader"],
    );
    assert.ok((await jsm.streams.info(names.core)).config.subjects.includes("athlete-ally.>"));
    const oura = await jsm.consumers.info(names.legacy, names.ouraDurable);
    assert.equal(oura.num_pending, 1, "the ignored backlog stays on the legacy stream");
  });
});
