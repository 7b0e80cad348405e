import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Subjects } from "@aa/contracts";
import { EventPublisher, eventBusSettings, manageStreams } from "@aa/event-bus";
import { connectNats, crashPoint, createLogger, createMetricsRegistry, exitOnStartupError, onShutdownSignal } from "@aa/service-kit";
import { buildApp } from "./app.js";
import { loadIngestConfig, ouraWebhookSettings } from "./config.js";

const bootLogger = createLogger({ service: "ingest", format: process.env.LOG_FORMAT === "pretty" ? "pretty" : "json" });

async function main(): Promise<void> {
  const config = loadIngestConfig(process.env);
  const oura = ouraWebhookSettings(config);
  const logger = createLogger({ service: "ingest", level: config.LOG_LEVEL, format: config.LOG_FORMAT });
  const settings = eventBusSettings(process.env, logger);
  const link = await connectNats({ url: config.NATS_URL, name: "ingest-service", logger });
  const jsm = config.FEATURE_SERVICE_MANAGES_STREAMS ? await manageStreams(link.nc, settings, config.REPLICAS, logger) : await jetstreamManager(link.nc);
  await logRoute(jsm, logger);

  const registry = createMetricsRegistry();
  const publisher = new EventPublisher({ js: jetstream(link.nc), logger, registry, retryBudgetMs: config.PUBLISH_RETRY_BUDGET_MS, ackTimeoutMs: config.PUBLISH_ACK_TIMEOUT_MS, maxInFlight: config.PUBLISH_MAX_IN_FLIGHT });
  const app = await buildApp({ publisher, link, registry, logger, bodyLimitBytes: config.BODY_LIMIT_BYTES, batchBodyLimitBytes: config.BATCH_BODY_LIMIT_BYTES, oura, afterPubAck: crashPoint(config.AA_CRASH_POINT, "ingest:after-puback-before-reply", config.AA_CRASH_AFTER) });
  logOuraWebhooks(oura, logger);
  await app.listen({ port: config.PORT, host: config.HOST });
  logger.info(`[ingest] Listening on http://${config.HOST}:${config.PORT} (stream mode ${settings.mode})`);

  let stopping = false;
  void link.nc.closed().then((error) => {
    if (stopping) return;
    logger.fatal({ err: error }, "[ingest] NATS connection closed for good; exiting");
    process.exit(1);
  });
  onShutdownSignal(logger, async () => {
    stopping = true;
    await app.close();
    await link.nc.drain();
  });
}

function logOuraWebhooks(oura: ReturnType<typeof ouraWebhookSettings>, logger: ReturnType<typeof createLogger>): void {
  if (!oura) return logger.warn("[ingest] Oura webhooks disabled: OURA_WEBHOOK_SECRET is not set; /webhooks/oura answers 503");
  const rotation = oura.secrets.length > 1 ? " (rotation: OURA_WEBHOOK_SECRET_PREVIOUS accepted too)" : "";
  const handshake = oura.verificationToken === undefined ? "; OURA_VERIFICATION_TOKEN is not set, so the subscription handshake answers 503" : "";
  logger.info(`[ingest] Oura webhooks enabled at /webhooks/oura${rotation}${handshake}`);
}

/** Says which stream will store each accepted reading: publishing follows subjects, not the mode. */
async function logRoute(jsm: Awaited<ReturnType<typeof jetstreamManager>>, logger: ReturnType<typeof createLogger>): Promise<void> {
  for (const subject of [Subjects.hrvRawReceived.subject, Subjects.sleepRawReceived.subject, Subjects.ouraWebhookReceived.subject]) {
    try {
      logger.info(`[ingest] ${subject} is stored by stream ${await jsm.streams.find(subject)}`);
    } catch {
      logger.error(`[ingest] No stream owns ${subject}: publishes will fail with 503 until one does. Create streams with: node docs/phase-3/ops/create-streams.js`);
    }
  }
}

main().catch((error: unknown) => exitOnStartupError(bootLogger, error));
