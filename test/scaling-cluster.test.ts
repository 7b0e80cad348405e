// Past one machine: two normalize replicas on the same durables against a 3-node
// JetStream cluster with R3 streams. JetStream hands each message to one puller and the guarded
// upsert plus the announcement's Nats-Msg-Id absorb a redelivery, so no coordinator is needed;
// this checks that prediction on a backlog: every event applied once, both replicas working.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { test } from "node:test";
import { connect } from "@nats-io/transport-node";
import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
} from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import {
  EventSources,
  readingKey,
  Subjects,
  validateHrvRawReceived,
  validateSleepRawReceived,
  type ReadingKind,
  type Validation,
} from "@aa/contracts";
import {
  applyPlan,
  DEFAULT_TOPOLOGY_NAMES,
  EventPublisher,
  planTopology,
  readTopology,
  topologyFor,
  unfinished,
} from "@aa/event-bus";
import { createLogger, createMetricsRegistry } from "@aa/service-kit";
import { startCluster, type PrivateCluster } from "./faults/cluster.js";
import { freePort } from "./helpers/nats.js";
import { createTestSchema, type TestSchema } from "./helpers/postgres.js";
import { baseUrl, startService, type RunningService } from "./helpers/service.js";
import { streamMessages } from "./helpers/stack.js";
import { waitFor } from "./helpers/wait.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CORE = DEFAULT_TOPOLOGY_NAMES.core;
const DLQ = DEFAULT_TOPOLOGY_NAMES.dlq;
const today = new Date().toISOString().slice(0, 10);

/** One kind of reading in the backlog: how many, on which subjects, through which durable. */
interface Backlog {
  kind: ReadingKind;
  count: number;
  raw: string;
  stored: string;
  durable: string;
  table: string;
  body: (eventId: string) => Record<string, unknown>;
  validate: (value: unknown) => Validation<unknown>;
}

const BACKLOGS: readonly Backlog[] = [
  {
    kind: "hrv",
    count: 4_000,
    raw: Subjects.hrvRawReceived.subject,
    stored: Subjects.hrvNormalizedStored.subject,
    durable: DEFAULT_TOPOLOGY_NAMES.hrvDurable,
    table: "hrv_data",
    body: (eventId) => ({ userId: eventId, date: today, rmssd: 20 + (eventId.length % 80) }),
    validate: validateHrvRawReceived,
  },
  {
    kind: "sleep",
    count: 1_000,
    raw: Subjects.sleepRawReceived.subject,
    stored: Subjects.sleepNormalizedStored.subject,
    durable: DEFAULT_TOPOLOGY_NAMES.sleepDurable,
    table: "sleep_data",
    body: (eventId) => ({ userId: eventId, date: today, durationMinutes: 420, qualityScore: 80 }),
    validate: validateSleepRawReceived,
  },
];

/** The R3 topology through the project's own plan and applier; retried while the meta group still gathers peers. */
async function applyR3Topology(jsm: JetStreamManager): Promise<void> {
  const desired = topologyFor("multi", DEFAULT_TOPOLOGY_NAMES, 3);
  await waitFor(async () => unfinished(await applyPlan(jsm, planTopology(await readTopology(jsm), desired))), {
    timeoutMs: 30_000,
    what: "the R3 topology applied completely",
  }).catch(async (error: Error) => {
    const left = unfinished(await applyPlan(jsm, planTopology(await readTopology(jsm), desired)));
    throw new Error(`${error.message}: ${left.map((o) => `${o.change.kind} ${o.result}`).join(", ")}`);
  });
}

/** Publishes the backlog as ingest would (anonymous source, the reading key as Nats-Msg-Id), 200 awaiting a PubAck. */
async function publishBacklog(js: JetStreamClient, backlog: Backlog): Promise<void> {
  const publisher = new EventPublisher({
    js,
    logger: createLogger({ service: "scaling-test", level: "warn" }),
    registry: createMetricsRegistry(),
    ackTimeoutMs: 10_000,
  });
  const source = EventSources.anonymous;
  let next = 0;
  const worker = async () => {
    while (next < backlog.count) {
      const eventId = `scale-${backlog.kind}-${++next}`;
      const event = { ...backlog.body(eventId), eventId, receivedAt: new Date().toISOString(), source };
      const msgId = readingKey({ kind: backlog.kind, source, userId: eventId, eventId });
      const receipt = await publisher.publish({ subject: backlog.raw, msgId, event, validate: backlog.validate });
      assert.equal(receipt.duplicate, false, `${eventId} was published twice`);
    }
  };
  await Promise.all(Array.from({ length: 200 }, worker));
}

/** Sum of a counter's samples on an instance's /metrics whose labels include every `labels` pair. */
async function counter(url: string, name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  return text
    .split("\n")
    .filter((line) => line.startsWith(`${name}{`) && wanted.every((pair) => line.includes(pair)))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(" ") + 1)), 0);
}

/** The test's own durable on a backlog's announcements: R3 like the stream, so it outlives a node as normalize's do. */
const auditDurable = (backlog: Backlog) => `scaling-audit-${backlog.kind}`;

async function addAuditDurable(jsm: JetStreamManager, backlog: Backlog): Promise<void> {
  await jsm.consumers.add(CORE, {
    durable_name: auditDurable(backlog),
    filter_subject: backlog.stored,
    ack_policy: AckPolicy.None,
    deliver_policy: DeliverPolicy.All,
  });
}

/** The eventIds of every announcement the stream holds for a backlog, read through its audit durable. */
async function announcedIds(js: JetStreamClient, backlog: Backlog, expected: number): Promise<string[]> {
  const ids: string[] = [];
  if (expected === 0) return ids;
  const messages = await (await js.consumers.get(CORE, auditDurable(backlog))).consume();
  for await (const m of messages) {
    ids.push(m.json<{ eventId: string }>().eventId);
    if (m.info.pending === 0) break;
  }
  return ids;
}

/** Every durable of the topology with nothing pending and nothing awaiting an ack. */
async function drained(jsm: JetStreamManager): Promise<boolean> {
  for (const backlog of BACKLOGS) {
    const info = await jsm.consumers.info(CORE, backlog.durable);
    if (info.num_pending + info.num_ack_pending > 0) return false;
  }
  return true;
}

/**
 * Runs `body` while `table` takes no writes. Whichever replica binds first could otherwise drain the
 * whole backlog before the other has started, and "both did work" would hang on start-up timing: held,
 * the first stops at the durable's max ack pending (1000) and the rest is shared once both pull.
 */
async function whileWritesHeld(db: TestSchema, table: string, body: () => Promise<void>): Promise<void> {
  const client = await db.pool.connect();
  try {
    await client.query(`BEGIN; LOCK TABLE ${table} IN EXCLUSIVE MODE`);
    await body();
  } finally {
    await client.query("COMMIT").catch(() => {});
    client.release();
  }
}

interface Fixture {
  cluster?: PrivateCluster;
  nc?: NatsConnection;
  db?: TestSchema;
  services: RunningService[];
}

async function cleanUp(f: Fixture): Promise<void> {
  await Promise.all(f.services.map((s) => s.stop()));
  await f.nc?.close();
  await f.cluster?.stop();
  await f.db?.drop();
}

/** A running cluster with the R3 topology, a migrated schema and the backlog published; normalize not started. */
interface Setup {
  cluster: PrivateCluster;
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  db: TestSchema;
  /** Announcement publishes seen by a core subscriber, by subject: also those the stream drops as duplicates. */
  published: Map<string, number>;
}

async function setUp(f: Fixture): Promise<Setup> {
  const cluster = (f.cluster = await startCluster());
  const nc = (f.nc = await connect({ servers: cluster.url.split(","), maxReconnectAttempts: -1 }));
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  await applyR3Topology(jsm);
  for (const stream of [CORE, DLQ]) {
    const info = await jsm.streams.info(stream);
    assert.equal(info.config.num_replicas, 3, `${stream} num_replicas`);
    assert.equal(info.cluster?.replicas?.length, 2, `${stream} has a leader and two replicas`);
  }
  for (const backlog of BACKLOGS) {
    assert.equal((await jsm.consumers.info(CORE, backlog.durable)).cluster?.replicas?.length, 2, backlog.durable);
    await addAuditDurable(jsm, backlog);
  }

  // Migrated once up front, as ops would, so the replicas start alike and race only for messages.
  const db = (f.db = await createTestSchema());
  await promisify(execFile)(process.execPath, ["services/normalize/dist/schema-migrate-cli.js"], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, DATABASE_URL: db.url, DATABASE_SCHEMA: db.schema },
  });

  const published = new Map<string, number>();
  nc.subscribe("athlete-ally.*.normalized-stored", {
    callback: (_, m) => void published.set(m.subject, (published.get(m.subject) ?? 0) + 1),
  });
  await nc.flush();
  for (const backlog of BACKLOGS) await publishBacklog(js, backlog);
  for (const backlog of BACKLOGS) {
    const info = await jsm.consumers.info(CORE, backlog.durable);
    assert.equal(info.num_pending, backlog.count, `${backlog.durable} backlog before normalize starts`);
  }
  return { cluster, nc, js, jsm, db, published };
}

/** Starts two normalize processes on the same durables, each given all three servers; returns their base URLs. */
async function startReplicas(f: Fixture, s: Setup): Promise<string[]> {
  const ports = [String(await freePort()), String(await freePort())];
  const env = {
    DATABASE_URL: s.db.url,
    DATABASE_SCHEMA: s.db.schema,
    NATS_URL: s.cluster.url,
    EVENT_STREAM_MODE: "multi",
    HOST: "127.0.0.1",
    RUN_MIGRATIONS: "false",
  };
  await whileWritesHeld(s.db, "hrv_data", async () => {
    f.services.push(...ports.map((PORT) => startService("normalize", { ...env, PORT })));
    await Promise.all(f.services.map((service) => service.waitForLog("[normalize] Listening on", 30_000)));
  });
  return ports.map(baseUrl);
}

const rowCount = async (db: TestSchema, table: string) =>
  Number((await db.pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]?.n);

/** Waits until every row is in and the durables are idle, then checks that each event was applied once; a summary. */
async function assertAppliedOnce(s: Setup, urls: string[]): Promise<string> {
  const startedAt = Date.now();
  const complete = async () => {
    for (const backlog of BACKLOGS) if ((await rowCount(s.db, backlog.table)) < backlog.count) return false;
    return drained(s.jsm);
  };
  await waitFor(complete, { timeoutMs: 60_000, intervalMs: 250, what: "every row stored, durables drained" });
  const lines = [`drained ${((Date.now() - startedAt) / 1000).toFixed(1)} s after start-up`];
  for (const backlog of BACKLOGS) {
    const { rows } = await s.db.pool.query<{ rows: string; ids: string; rewritten: string }>(
      `SELECT count(*) AS rows, count(DISTINCT event_id) AS ids,
              count(*) FILTER (WHERE updated_at <> created_at) AS rewritten FROM ${backlog.table}`,
    );
    assert.deepEqual(rows[0], { rows: String(backlog.count), ids: String(backlog.count), rewritten: "0" });

    const announced = await announcedIds(s.js, backlog, await streamMessages(s.jsm, CORE, backlog.stored));
    assert.equal(announced.length, backlog.count, `${backlog.stored} announcements in the stream`);
    assert.equal(new Set(announced).size, backlog.count, `${backlog.stored}: one announcement per event`);

    const labels = { result: "success", durable: backlog.durable };
    const perInstance = await Promise.all(
      urls.map((u) => counter(u, `normalize_${backlog.kind}_messages_total`, labels)),
    );
    if (backlog.kind === "hrv")
      for (const [i, n] of perInstance.entries()) assert.ok(n > 0, `instance ${i + 1} handled no HRV event`);
    const info = await s.jsm.consumers.info(CORE, backlog.durable);
    assert.equal(info.num_pending + info.num_ack_pending, 0, `${backlog.durable} idle`);
    const seen = s.published.get(backlog.stored) ?? 0;
    lines.push(
      `${backlog.kind}: ${backlog.count} events, per instance ${perInstance.join(" + ")}, ` +
        `redelivered ${info.delivered.consumer_seq - backlog.count}, announcement publishes seen ${seen}`,
    );
  }
  assert.equal(await streamMessages(s.jsm, DLQ), 0, "nothing dead-lettered");
  return lines.join("; ");
}

test("two normalize replicas on one durable, 3-node R3 cluster: every event applied once, both did work", async () => {
  const f: Fixture = { services: [] };
  try {
    const s = await setUp(f);
    const urls = await startReplicas(f, s);
    console.log(`[scaling-cluster] ${await assertAppliedOnce(s, urls)}`);
  } finally {
    await cleanUp(f);
  }
});
