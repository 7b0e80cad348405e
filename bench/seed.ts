import { AckPolicy, StorageType } from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import { freePort } from "../test/helpers/nats.js";
import { startBenchChild } from "./child.js";
import { singleLoad, throughput, type ThroughputResult } from "./e2e.js";
import type { BenchEnv, Cleanup } from "./env.js";
import { IdSequence } from "./events.js";
import { runLoad } from "./load.js";
import type { BenchSizes } from "./options.js";
import { hrvShapedTable } from "./raw.js";
import { waitCommitted, type CommitProbe } from "./verify.js";

const STREAM = "BENCH_SEED";
const SUBJECT = "bench.seed.hrv";
const DURABLE = "bench-seed";
const TABLE = "seed_hrv";
/** How many of the accepted event ids have a row. */
const STORED = `
SELECT count(*)::int AS n FROM unnest($1::text[]) AS a(id)
 WHERE EXISTS (SELECT 1 FROM ${TABLE} s WHERE s.event_id = a.id)`;

/** The seed design's end-to-end run, measured like e2e single; `lost` = accepted events without a row. */
export interface SeedResult extends ThroughputResult {
  lost: number;
}

/**
 * The seed design (bench/seed-app.ts) under the single-event load: its ingest and consumer as two
 * child processes on the bench's nats-server and database, a stream, durable and table of their
 * own, removed afterwards. Rows / (first request → last row committed), as for the pipeline.
 */
export async function e2eSeed(env: BenchEnv, sizes: BenchSizes, cleanup: Cleanup): Promise<SeedResult> {
  await env.jsm.streams.add({
    name: STREAM,
    subjects: [SUBJECT],
    storage: StorageType.File,
    duplicate_window: nanos(120_000),
  });
  await env.jsm.consumers.add(STREAM, { durable_name: DURABLE, ack_policy: AckPolicy.Explicit });
  await env.db.pool.query(hrvShapedTable(TABLE));
  const childEnv = {
    NATS_URL: env.nats.url,
    DATABASE_URL: env.db.url,
    DATABASE_SCHEMA: env.db.schema,
    SEED_STREAM: STREAM,
    SEED_SUBJECT: SUBJECT,
    SEED_DURABLE: DURABLE,
    SEED_TABLE: TABLE,
  };
  const [consumerPort, ingestPort] = [await freePort(), await freePort()];
  const consumer = await startBenchChild("seed consumer", "bench/seed-app.ts", {
    args: ["consumer"],
    env: { ...childEnv, PORT: String(consumerPort) },
    health: `http://127.0.0.1:${consumerPort}/health`,
    cleanup,
  });
  const url = `http://127.0.0.1:${ingestPort}`;
  const ingest = await startBenchChild("seed ingest", "bench/seed-app.ts", {
    args: ["ingest"],
    env: { ...childEnv, PORT: String(ingestPort) },
    health: `${url}/health`,
    cleanup,
  });
  try {
    // The seed commits far slower than it accepts, so a shorter load gives the same rate (the
    // consumer's) with less waiting: rows / (first request → last commit) is the consumer's pace.
    const load = await runLoad(singleLoad(sizes, url, new IdSequence("seed"), undefined, sizes.seedSeconds));
    const committed = await waitCommitted(seedProbe(env), load.accepted.length, sizes.drainTimeoutMs);
    const stored = await env.db.pool.query<{ n: number }>(STORED, [load.accepted]);
    return { ...throughput(load, committed), lost: load.accepted.length - (stored.rows[0]?.n ?? 0) };
  } finally {
    await ingest.stop();
    await consumer.stop();
    await env.jsm.streams.delete(STREAM);
    await env.db.pool.query(`DROP TABLE ${TABLE}`);
  }
}

function seedProbe(env: BenchEnv): CommitProbe {
  return {
    backlog: async () => {
      const info = await env.jsm.consumers.info(STREAM, DURABLE);
      return { pending: info.num_pending, ackPending: info.num_ack_pending };
    },
    rows: async () =>
      (await env.db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${TABLE}`)).rows[0]?.n ?? 0,
  };
}
