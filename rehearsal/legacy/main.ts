/**
 * The 1.0 stand-in: `node --import tsx rehearsal/legacy/main.ts ingest|normalize`. What the runbook says
 * 1.0 does, with this repository's contracts, publisher and 1.0's SQL: ingest accepts unauthenticated
 * POST /ingest/hrv and publishes the 1.0 envelope (no `source`) with Nats-Msg-Id = eventId; normalize
 * migrates at startup as its role, consumes the legacy HRV durable, refuses events with `source`
 * (schema_invalid, dead-lettered) and writes rows. Both connect without credentials or TLS, as 1.0 did.
 * Log lines are JSON; the rehearsal scans them for `permission denied` and NATS disconnects.
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { jetstream, type JsMsg } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import pg from "pg";
import { Registry } from "prom-client";
import { dlqSubjectPrefix, Subjects, validateHrvReading } from "@aa/contracts";
import { EventPublisher } from "@aa/event-bus";
import { createLogger } from "@aa/service-kit";
import { LEGACY_HRV_DURABLE, LEGACY_STREAM, validateLegacyHrvRawReceived } from "./contract.js";
import { legacyStartupMigration } from "./migrate.js";
import { storeLegacyHrv, type LegacyHrv } from "./store.js";

const role = process.argv[2];
const logger = createLogger({ service: `legacy-${role}` });
const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is required`);
  return value;
};

async function connectLegacy(): Promise<NatsConnection> {
  const nc = await connect({ servers: env("NATS_URL"), maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === "disconnect") logger.warn({ status: status.type }, "[legacy] NATS disconnected");
      else if (status.type === "error") logger.error({ status: String(status.error) }, "[legacy] NATS error");
      else if (status.type === "reconnect") logger.info("[legacy] NATS reconnected");
    }
  })();
  logger.info(`[legacy] connected to ${nc.getServer()} without credentials`);
  return nc;
}

const reply = (res: ServerResponse, status: number, body: object) =>
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString());
}

async function runIngest(): Promise<void> {
  const nc = await connectLegacy();
  const publisher = new EventPublisher({ js: jetstream(nc), logger, registry: new Registry() });
  const server = createServer((req, res) => {
    if (req.method !== "POST" || req.url !== "/ingest/hrv") return reply(res, 404, { error: "not found" });
    void (async () => {
      const reading = validateHrvReading(await readJson(req).catch(() => undefined));
      if (!reading.ok) return reply(res, 400, { error: "invalid", details: reading.errors });
      const event = {
        ...reading.value,
        eventId: reading.value.eventId ?? randomUUID(),
        receivedAt: new Date().toISOString(),
      };
      const { subject } = Subjects.hrvRawReceived;
      try {
        await publisher.publish({ subject, msgId: event.eventId, event, validate: validateLegacyHrvRawReceived });
        reply(res, 202, { status: "received", eventId: event.eventId });
      } catch (error) {
        logger.error({ err: error }, "[legacy-ingest] publish failed");
        reply(res, 503, { error: "unavailable" });
      }
    })();
  });
  server.listen(Number(env("PORT")), "127.0.0.1", () => logger.info(`[legacy-ingest] Listening on ${env("PORT")}`));
  process.once("SIGTERM", () => server.close(() => void nc.drain().then(() => process.exit(0))));
}

async function handle(js: ReturnType<typeof jetstream>, pool: pg.Pool, msg: JsMsg): Promise<void> {
  const parsed = validateLegacyHrvRawReceived(msg.json());
  if (!parsed.ok) {
    const subject = `${dlqSubjectPrefix("normalize", msg.subject)}.schema-invalid`;
    await js.publish(subject, msg.data, { msgID: `dlq-${msg.headers?.get("Nats-Msg-Id") ?? msg.seq}` });
    logger.warn({ errors: parsed.errors }, "[legacy-normalize] schema_invalid: dead-lettered");
    return msg.ack();
  }
  try {
    await storeLegacyHrv(pool, parsed.value as LegacyHrv);
    msg.ack();
  } catch (error) {
    logger.error({ err: error }, `[legacy-normalize] store failed: ${(error as Error).message}`);
    msg.nak(500);
  }
}

async function runNormalize(): Promise<void> {
  const applied = await legacyStartupMigration(env("DATABASE_URL"));
  logger.info(`[legacy-normalize] startup migrations applied: ${applied.join(", ") || "none"}`);
  const pool = new pg.Pool({ connectionString: env("DATABASE_URL"), max: 4 });
  const nc = await connectLegacy();
  const js = jetstream(nc);
  const consumer = await js.consumers.get(LEGACY_STREAM, LEGACY_HRV_DURABLE);
  const messages = await consumer.consume({ max_messages: 200 });
  process.once(
    "SIGTERM",
    () =>
      void messages
        .close()
        .then(() => nc.drain())
        .then(() => pool.end())
        .then(() => process.exit(0)),
  );
  logger.info(`[legacy-normalize] consuming ${LEGACY_STREAM}/${LEGACY_HRV_DURABLE}`);
  for await (const msg of messages) await handle(js, pool, msg);
}

try {
  if (role === "ingest") await runIngest();
  else if (role === "normalize") await runNormalize();
  else throw new Error(`usage: legacy/main.ts ingest|normalize (got ${role})`);
} catch (error) {
  logger.error({ err: error }, `[legacy-${role}] startup failed: ${(error as Error).message}`);
  process.exit(1);
}
