/**
 * The seed design, the baseline the bench's targets measure the pipeline against, written from its
 * description: `ingest` is a Fastify route that validates with a JSON schema and awaits one
 * JetStream publish per request; `consumer` fetches 10 messages at a time and, per message, runs
 * one INSERT … ON CONFLICT in its own transaction and acks it. Run by bench/seed.ts as two child
 * processes: `node --import tsx bench/seed-app.ts ingest|consumer`, configured by env.
 */
import { createServer } from "node:http";
import Fastify from "fastify";
import pg from "pg";
import { connect } from "@nats-io/transport-node";
import { jetstream, type JetStreamClient } from "@nats-io/jetstream";

const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined || value === "") throw new Error(`seed-app: ${name} is not set`);
  return value;
};

interface Reading {
  eventId: string;
  userId: string;
  date: string;
  rmssd: number;
  capturedAt?: string;
  receivedAt?: string;
}

const READING_SCHEMA = {
  type: "object",
  required: ["eventId", "userId", "date", "rmssd"],
  additionalProperties: false,
  properties: {
    eventId: { type: "string", minLength: 1, maxLength: 128 },
    userId: { type: "string", minLength: 1, maxLength: 128 },
    date: { type: "string", format: "date" },
    rmssd: { type: "number", exclusiveMinimum: 0, maximum: 500 },
    capturedAt: { type: "string", format: "date-time" },
  },
} as const;

async function ingest(js: JetStreamClient, subject: string, port: number): Promise<() => Promise<void>> {
  const app = Fastify({ logger: false });
  app.post("/ingest/hrv", { schema: { body: READING_SCHEMA } }, async (request, reply) => {
    const reading = request.body as Reading;
    const event = { ...reading, receivedAt: new Date().toISOString() };
    await js.publish(subject, JSON.stringify(event), { msgID: reading.eventId });
    return reply.code(202).send({ status: "received", eventId: reading.eventId });
  });
  app.get("/health", async () => ({ status: "healthy" }));
  await app.listen({ port, host: "127.0.0.1" });
  return () => app.close();
}

const upsert = (table: string) => `
INSERT INTO ${table} AS t (user_id, date, rmssd, ln_rmssd, captured_at, event_id, raw)
VALUES ($1, $2, $3, ln($3), $4, $5, NULL)
ON CONFLICT (user_id, date) DO UPDATE
   SET rmssd = EXCLUDED.rmssd, ln_rmssd = EXCLUDED.ln_rmssd, captured_at = EXCLUDED.captured_at,
       event_id = EXCLUDED.event_id, updated_at = now()
 WHERE (t.captured_at, t.event_id) < (EXCLUDED.captured_at, EXCLUDED.event_id)`;

async function consumer(js: JetStreamClient, port: number): Promise<() => Promise<void>> {
  const db = new pg.Client({
    connectionString: env("DATABASE_URL"),
    options: `-c search_path=${env("DATABASE_SCHEMA")}`,
  });
  await db.connect();
  const sql = upsert(env("SEED_TABLE"));
  const source = await js.consumers.get(env("SEED_STREAM"), env("SEED_DURABLE"));
  let running = true;
  const loop = (async () => {
    while (running) {
      const batch = await source.fetch({ max_messages: 10, expires: 1_000 });
      for await (const m of batch) {
        const r = m.json<Reading>();
        await db.query("BEGIN");
        await db.query(sql, [r.userId, r.date, r.rmssd, r.capturedAt ?? r.receivedAt, r.eventId]);
        await db.query("COMMIT");
        m.ack();
      }
    }
  })();
  // Ready once the first fetch is out: the parent starts its load then.
  const health = createServer((_request, response) => response.writeHead(200).end("ok"));
  await new Promise<void>((resolve) => health.listen(port, "127.0.0.1", resolve));
  return async () => {
    running = false;
    await loop;
    health.close();
    await db.end();
  };
}

const role = process.argv[2];
if (role !== "ingest" && role !== "consumer") throw new Error(`seed-app: role ${role} is not ingest or consumer`);
const nc = await connect({ servers: env("NATS_URL") });
const js = jetstream(nc);
const port = Number(env("PORT"));
const close = role === "ingest" ? await ingest(js, env("SEED_SUBJECT"), port) : await consumer(js, port);
const stop = () =>
  void close()
    .then(() => nc.drain())
    .then(() => process.exit(0));
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
