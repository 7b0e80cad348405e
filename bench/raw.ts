import { AckPolicy, StorageType } from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import type pg from "pg";
import { freePort } from "../test/helpers/nats.js";
import { startBenchChild } from "./child.js";
import type { CpuPerEvent, CpuProbe } from "./cpu.js";
import { batchLoad, singleLoad } from "./e2e.js";
import type { BenchEnv, Cleanup } from "./env.js";
import { hrvRawEvent, IdSequence } from "./events.js";
import { runLoad } from "./load.js";
import type { BenchSizes } from "./options.js";
import { elapsedMs, perSecond, pipelined, publishPipelined } from "./pipelined.js";

const RAW_STREAM = "BENCH_RAW";
const RAW_SUBJECT = "bench.raw";
const RAW_DURABLE = "bench-raw";

/** The ceilings the pipeline is compared with, measured on this machine in this run. */
export interface RawLimits {
  jsPublishMsgPerSec: number;
  jsConsumeAckMsgPerSec: number;
  pgUpsertRowsPerSec: number;
  fastifyReqPerSec: number;
  /** What each raw part cost in CPU per unit of work (message, row, reading), measured around it. */
  cpu: RawCpu;
}

/**
 * CPU per unit of each raw part, per process: the bench process is the client of the JetStream and PostgreSQL parts
 * (its `bench` share), the bare Fastify app is measured in the `ingest` slot and its load generator is not counted
 * (as ingest's load generator is not counted in the pipeline's figure).
 */
export interface RawCpu {
  /** Per message: pipelined publish with PubAck. */
  publish: CpuPerEvent;
  /** Per message: consume + ack. */
  consumeAck: CpuPerEvent;
  /** Per row: batched guarded upsert. */
  upsert: CpuPerEvent;
  /** Per request: one reading per POST. */
  fastifySingle: CpuPerEvent;
  /** Per reading, in batches of `batchItems`. */
  fastifyBatch: CpuPerEvent;
}

/** What each raw part is, per unit of work, as the report names it. */
export const RAW_PARTS: Record<keyof RawCpu, string> = {
  publish: "JetStream publish with PubAck, pipelined, per message",
  consumeAck: "JetStream consume + ack, per message",
  upsert: "PostgreSQL batched upsert, per row",
  fastifySingle: "bare Fastify POST with validation, per request",
  fastifyBatch: "bare Fastify batch POST with validation, per reading",
};

/** Which process of a raw part is its client side: the bench for JetStream and PostgreSQL, the bare app for HTTP. */
export const RAW_CLIENT: Record<keyof RawCpu, "bench" | "ingest"> = {
  publish: "bench",
  consumeAck: "bench",
  upsert: "bench",
  fastifySingle: "ingest",
  fastifyBatch: "ingest",
};

export async function measureRawLimits(
  env: BenchEnv,
  sizes: BenchSizes,
  cpu: CpuProbe,
  cleanup: Cleanup,
): Promise<RawLimits> {
  const endPublish = await cpu.begin({});
  const jsPublishMsgPerSec = await measurePublish(env, sizes);
  const publish = await endPublish(sizes.rawMessages);
  const endConsume = await cpu.begin({});
  const jsConsumeAckMsgPerSec = await measureConsumeAck(env, sizes);
  const consumeAck = await endConsume(sizes.rawMessages);
  await env.jsm.streams.delete(RAW_STREAM);
  const endUpsert = await cpu.begin({});
  const pgUpsertRowsPerSec = await measureUpsert(env.db.pool, sizes);
  const upsert = await endUpsert(sizes.upsertRows);
  const fastify = await measureBareFastify(sizes, cpu, cleanup);
  return {
    jsPublishMsgPerSec,
    jsConsumeAckMsgPerSec,
    pgUpsertRowsPerSec,
    fastifyReqPerSec: fastify.reqPerSec,
    cpu: { publish, consumeAck, upsert, fastifySingle: fastify.single, fastifyBatch: fastify.batch },
  };
}

/** Pipelined publishes with msg ids (as ingest sends them) to a file stream shaped like the real ones. */
async function measurePublish(env: BenchEnv, sizes: BenchSizes): Promise<number> {
  await env.jsm.streams.add({
    name: RAW_STREAM,
    subjects: [RAW_SUBJECT],
    storage: StorageType.File,
    duplicate_window: nanos(120_000),
  });
  const ids = new IdSequence("raw");
  const started = performance.now();
  await publishPipelined(env.js, RAW_SUBJECT, sizes.rawMessages, sizes.publishWindow, () => {
    const id = ids.next();
    return { id, data: hrvRawEvent(id) };
  });
  return perSecond(sizes.rawMessages, elapsedMs(started));
}

/** A durable pull consumer with the HRV durable's max ack pending, read with `consume()`, every message acked. */
async function measureConsumeAck(env: BenchEnv, sizes: BenchSizes): Promise<number> {
  const hrv = await env.jsm.consumers.info(env.names.core, env.names.hrvDurable);
  const maxAckPending = hrv.config.max_ack_pending ?? 1_000;
  await env.jsm.consumers.add(RAW_STREAM, {
    durable_name: RAW_DURABLE,
    ack_policy: AckPolicy.Explicit,
    max_ack_pending: maxAckPending,
  });
  const consumer = await env.js.consumers.get(RAW_STREAM, RAW_DURABLE);
  const started = performance.now();
  const messages = await consumer.consume({ max_messages: maxAckPending });
  let acked = 0;
  for await (const m of messages) {
    m.ack();
    if (++acked >= sizes.rawMessages) break;
  }
  await env.nc.flush();
  const ms = elapsedMs(started);
  await messages.close();
  return perSecond(acked, ms);
}

/** The same table and guarded upsert shape as hrv_data, `upsertBatch` rows per statement, two statements at a time. */
async function measureUpsert(pool: pg.Pool, sizes: BenchSizes): Promise<number> {
  await pool.query(hrvShapedTable("bench_upsert"));
  await pool.query("CREATE INDEX ON bench_upsert (created_at)");
  const statements = Math.ceil(sizes.upsertRows / sizes.upsertBatch);
  const started = performance.now();
  const outcome = await pipelined(statements, 2, (i) =>
    pool.query(
      UPSERT,
      upsertColumns(i * sizes.upsertBatch, Math.min(sizes.upsertBatch, sizes.upsertRows - i * sizes.upsertBatch)),
    ),
  );
  const ms = elapsedMs(started);
  if (outcome.failed > 0) throw new Error(`raw upsert failed: ${String(outcome.firstError)}`);
  await pool.query("DROP TABLE bench_upsert");
  return perSecond(sizes.upsertRows, ms);
}

/** DDL of a table shaped like hrv_data: the same columns, keys and unique indexes. */
export const hrvShapedTable = (name: string): string => `
CREATE TABLE ${name} (
  id bigserial PRIMARY KEY, user_id text NOT NULL, date date NOT NULL, rmssd double precision NOT NULL,
  ln_rmssd double precision NOT NULL, captured_at timestamptz NOT NULL, event_id text NOT NULL, raw jsonb,
  created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (user_id, date), UNIQUE (event_id))`;

const UPSERT = `
INSERT INTO bench_upsert AS t (user_id, date, rmssd, ln_rmssd, captured_at, event_id, raw)
SELECT * FROM unnest($1::text[], $2::date[], $3::float8[], $4::float8[], $5::timestamptz[], $6::text[], $7::jsonb[])
ON CONFLICT (user_id, date) DO UPDATE
   SET rmssd = EXCLUDED.rmssd, ln_rmssd = EXCLUDED.ln_rmssd, captured_at = EXCLUDED.captured_at,
       event_id = EXCLUDED.event_id, raw = EXCLUDED.raw, updated_at = now()
 WHERE (t.captured_at, t.event_id) < (EXCLUDED.captured_at, EXCLUDED.event_id)`;

function upsertColumns(from: number, count: number): unknown[][] {
  const ids = Array.from({ length: count }, (_, k) => `upsert:${from + k + 1}`);
  const rmssd = ids.map((_, k) => 20 + ((from + k) % 80));
  const capturedAt = new Date().toISOString();
  const date = new Date().toISOString().slice(0, 10);
  return [ids, ids.map(() => date), rmssd, rmssd.map(Math.log), ids.map(() => capturedAt), ids, ids.map(() => null)];
}

/**
 * A child Fastify app that validates readings as ingest does and answers, loaded like the e2e single run, then like
 * the e2e batch run: its request rate, and its CPU per request and per batched reading.
 */
async function measureBareFastify(
  sizes: BenchSizes,
  cpu: CpuProbe,
  cleanup: Cleanup,
): Promise<{ reqPerSec: number; single: CpuPerEvent; batch: CpuPerEvent }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const app = await startBenchChild("bare Fastify app", "bench/bare-fastify.ts", {
    env: { PORT: String(port) },
    health: `${url}/health`,
    cleanup,
  });
  const pids = { ingest: [app.pid ?? 0] };
  const endSingle = await cpu.begin(pids);
  const outcome = await runLoad(singleLoad(sizes, url, new IdSequence("bare"), undefined, sizes.bareSeconds));
  const single = await endSingle(outcome.ok2xx);
  const endBatch = await cpu.begin(pids);
  const batches = await runLoad(batchLoad(sizes, url, new IdSequence("bare-batch"), undefined, sizes.bareSeconds));
  const batch = await endBatch(batches.ok2xx * sizes.batchItems);
  await app.stop();
  if (outcome.ok2xx === 0 || batches.ok2xx === 0)
    throw new Error(`the bare Fastify app answered no 2xx: ${JSON.stringify([outcome.statuses, batches.statuses])}`);
  return { reqPerSec: outcome.ok2xx / outcome.seconds, single, batch };
}
