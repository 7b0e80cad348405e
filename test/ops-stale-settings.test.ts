// The aa-ops pod reads event-bus-config once, when it starts: in production a REPLICAS of the
// release before must not create R1 streams. aa-ops refuses unless the replicas were typed, and
// prints every setting it acts on with its source.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { DEFAULT_TOPOLOGY_NAMES } from "@aa/event-bus";
import { aaOps, showRun } from "./helpers/cli.js";
import { startNats, type PrivateNats } from "./helpers/nats.js";
import { applyTopology } from "./helpers/stack.js";

const names = DEFAULT_TOPOLOGY_NAMES;
/** The pod in namespace production, started before Deployment Step 1 applied the new ConfigMap. */
const STALE_POD = { NODE_ENV: "production", POD_NAMESPACE: "production", REPLICAS: "1", EVENT_STREAM_MODE: "single" };

describe("aa-ops with the stale settings of a long-lived ops pod", () => {
  let nats: PrivateNats;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  before(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.url });
    jsm = await jetstreamManager(nc);
  });
  after(async () => {
    await nc.close();
    await nats.stop();
  });
  const streamNames = async () => (await jsm.streams.names().next()).sort();
  let initial: string[];

  test("topology apply refuses to create a stream the same way; a dry run still shows the plan", async () => {
    // An empty server: the plan creates every stream of the mode.
    const env = STALE_POD;
    const run = await aaOps(["topology", "apply", "--mode", "single", "--nats-url", nats.url], env);
    assert.equal(run.code, 1, showRun(run));
    assert.match(run.stderr, /not creating or updating streams: namespace production but REPLICAS=1/);
    const dry = await aaOps(["topology", "apply", "--mode", "single", "--dry-run", "--nats-url", nats.url], env);
    assert.match(dry.stdout, /stream ATHLETE_ALLY_EVENTS: would create/, showRun(dry));
    assert.deepEqual(await streamNames(), []);
  });

  test("migrate --to multi refuses to create R1 streams from REPLICAS in production; nothing changes", async () => {
    await applyTopology(jsm, "single");
    initial = await streamNames();
    const run = await aaOps(["migrate", "--to", "multi", "--skip-health-check", "--nats-url", nats.url], STALE_POD);
    assert.equal(run.code, 1, showRun(run));
    assert.match(run.stdout, /not creating AA_CORE_HOT, .* with 1 replica\(s\): namespace production but REPLICAS=1/);
    assert.match(run.stdout, /Replicas: +1 \(REPLICAS\) for streams it creates/);
    assert.match(run.stdout, new RegExp(`NATS URL: +${nats.url} \\(--nats-url\\)`));
    assert.deepEqual(await streamNames(), initial);
    assert.deepEqual((await jsm.streams.info(names.legacy)).config.subjects.length, 3, "no subject moved");
  });

  test("typed as --replicas, the count is the operator's: the migration runs", async () => {
    // This test server has one node: R1 is what it can hold.
    const run = await aaOps(
      [
        "migrate",
        "--to",
        "multi",
        "--replicas",
        "1",
        "--skip-health-check",
        "--drain-timeout",
        "30",
        "--nats-url",
        nats.url,
      ],
      STALE_POD,
    );
    assert.equal(run.code, 0, showRun(run));
    assert.match(run.stdout, /Replicas: +1 \(--replicas\)/);
    assert.ok((await streamNames()).includes(names.core));
  });
});
