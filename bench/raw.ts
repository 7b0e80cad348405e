import { AckPolicy, StorageType } from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import type pg from "pg";
import { freePort } from "../test/helpers/nats.js";
import { startBenchChild } from "./child.js";
import { singleLoad } from "./e2e.js";
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
}

export async function measureRawLimits(env: BenchEnv, sizes: BenchSizes, cleanup: Cleanup): Promise<RawLimits> {
  const jsPublishMsgPerSec = await measurePublish(env, sizes);
  const jsConsumeAckMsgPerSec = await measureConsumeAck(env, sizes);
  await env.jsm.streams.delete(RAW_STREAM);
  const pgUpsertRowsPerSec = await measureUpsert(env.db.pool, sizes);
  const fastifyReqPerSec = await measureBareFastify(sizes, cleanup);
  return { jsPublishMsgPerSec, jsConsumeAckMsgPerSec, pgUpsertRowsPerSec, fastifyReqPerSec };
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

/** A child Fastify app that parses the JSON body and answers 200, loaded like the e2e single run. */
async function measureBareFastify(sizes: BenchSizes, cleanup: Cleanup): Promise<number> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const app = await startBenchChild("bare Fastify app", "bench/bare-fastify.ts", {
    env: { PORT: String(port) },
    health: `${url}/health`,
    cleanup,
  });
  const outcome = await runLoad(singleLoad(sizes, url, new IdSequence("bare"), undefined, sizes.bareSeconds));
  await app.stop();
  return outcome.ok2xx / outcome.seconds;
}
