import assert from "node:assert/strict";
import { test } from "node:test";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { applyPlan, DEFAULT_TOPOLOGY_NAMES, planTopology, readTopology, topologyFor, unfinished } from "@aa/event-bus";
import { freePort } from "../helpers/nats.js";
import { createTestSchema } from "../helpers/postgres.js";
import { baseUrl, startService, type RunningService } from "../helpers/service.js";
import { waitFor } from "../helpers/wait.js";
import { audit } from "./auditor.js";
import { startCluster } from "./cluster.js";
import { startLedgerLoad } from "./ledger.js";
import { assertClean, moreAcked } from "./scenario.js";

test("3-node cluster, R3 streams: the HRV stream leader is SIGKILLed under load and comes back", async () => {
  const cluster = await startCluster();
  const nc = await connect({ servers: cluster.url.split(","), maxReconnectAttempts: -1 });
  const jsm = await jetstreamManager(nc);
  const db = await createTestSchema();
  const services: RunningService[] = [];
  try {
    const plan = planTopology(await readTopology(jsm), topologyFor("multi", DEFAULT_TOPOLOGY_NAMES, 3));
    assert.deepEqual(unfinished(await applyPlan(jsm, plan)), [], "the R3 topology must apply completely");
    const env = {
      NATS_URL: cluster.url,
      EVENT_STREAM_MODE: "multi",
      DATABASE_URL: db.url,
      DATABASE_SCHEMA: db.schema,
      HOST: "127.0.0.1",
      RETRY_BUDGET_MS: "60000",
    };
    const [normalizePort, ingestPort] = [String(await freePort()), String(await freePort())];
    services.push(
      startService("normalize", { ...env, PORT: normalizePort }),
      startService("ingest", { ...env, PORT: ingestPort }),
    );
    await Promise.all(services.map((s) => s.waitForLog("Listening on", 30_000)));

    const driver = startLedgerLoad({
      url: baseUrl(ingestPort),
      prefix: "leader-kill",
      ratePerSecond: 80,
      maxSeconds: 20,
      maxAttempts: 80,
      retryDelayMs: 1_000,
    });
    await moreAcked(driver.ledger, 200, "load running on the first leader");
    const stream = await jsm.streams.find("athlete-ally.hrv.raw-received");
    const leader = (await jsm.streams.info(stream)).cluster?.leader;
    const node = cluster.nodes.find((n) => n.name === leader);
    if (!node) throw new Error(`no leader for ${stream}: ${String(leader)}`);
    await node.kill();
    await waitFor(
      async () => {
        const now = (await jsm.streams.info(stream)).cluster?.leader;
        return now !== undefined && now !== leader;
      },
      { timeoutMs: 30_000, what: "a new stream leader" },
    );
    await moreAcked(driver.ledger, 200, "load running on the new leader, the old one down");
    await node.start();
    const faultEndedAt = Date.now();
    const ledger = await driver.finish();
    assertClean(
      await audit({
        scenario: `R3 cluster: stream leader ${leader} SIGKILL`,
        ledger,
        jsm,
        pool: db.pool,
        faultEndedAt,
      }),
    );
  } finally {
    await Promise.all(services.map((s) => s.stop()));
    await nc.close();
    await cluster.stop();
    await db.drop();
  }
});
