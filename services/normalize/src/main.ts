import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import {
  EventPublisher,
  eventBusSettings,
  manageStreams,
  recordStreamMode,
  startDlqDepthRefresher,
  streamCandidates,
} from "@aa/event-bus";
import {
  connectNats,
  crashPoint,
  createLogger,
  createMetricsRegistry,
  exitOnStartupError,
  onShutdownSignal,
  parseTrustProxy,
  recordNatsConnection,
  startTracing,
  tracingSettings,
} from "@aa/service-kit";
import { buildApp } from "./app.js";
import { loadNormalizeConfig } from "./config.js";
import { checkConnection, createPool } from "./db.js";
import { hrvConsumer } from "./hrv-consumer.js";
import { assertMigrated, migrate } from "./migrate.js";
import { setUpOura } from "./oura.js";
import { ouraSettings } from "./oura-settings.js";
import { startConsumers } from "./reading-flow.js";
import { sleepConsumer } from "./sleep-consumer.js";

const bootLogger = createLogger({
  service: "normalize",
  format: process.env.LOG_FORMAT === "pretty" ? "pretty" : "json",
});

async function main(): Promise<void> {
  const config = loadNormalizeConfig(process.env);
  const ouraConfig = ouraSettings(config);
  const logger = createLogger({
    service: "normalize",
    level: config.LOG_LEVEL,
    format: config.LOG_FORMAT,
    userIdHashKey: config.LOG_HASH_KEY,
  });
  // First, so every span of this process (HTTP, publish, consume) goes to the registered SDK.
  const tracing = await startTracing(tracingSettings(process.env, "normalize-service"), logger);
  if (config.LOG_HASH_KEY === undefined)
    logger.warn(
      "[normalize] LOG_HASH_KEY is not set: user ids in the logs are hashed with a random key of this process, so they match only within its own logs",
    );
  const settings = eventBusSettings(process.env, logger);
  logger.info(`[normalize-service] Stream candidates: ${streamCandidates(settings.mode, settings.names).join(", ")}`);

  const pool = createPool({
    url: config.DATABASE_URL,
    tls: config,
    schema: config.DATABASE_SCHEMA,
    max: config.DATABASE_POOL_MAX,
    logger,
  });
  await checkConnection(pool, config.DATABASE_URL);
  // A role without DDL rights (RUN_MIGRATIONS=false) only checks that ops has migrated.
  if (config.RUN_MIGRATIONS) await migrate(pool, config.DATABASE_SCHEMA, logger);
  else await assertMigrated(pool, config.DATABASE_SCHEMA);

  const link = await connectNats({ url: config.NATS_URL, name: "normalize-service", logger });
  const jsm = config.FEATURE_SERVICE_MANAGES_STREAMS
    ? await manageStreams(link.nc, settings, config.REPLICAS, logger)
    : await jetstreamManager(link.nc);
  const js = jetstream(link.nc);
  const registry = createMetricsRegistry();
  recordNatsConnection(registry, link);
  recordStreamMode(registry, settings.mode);
  startDlqDepthRefresher({ jsm, registry, stream: settings.names.dlq, logger });
  const publisher = new EventPublisher({ js, logger, registry });

  const deps = {
    js,
    jsm,
    pool,
    publisher,
    logger,
    registry,
    settings,
    manageConsumer: config.FEATURE_SERVICE_MANAGES_CONSUMERS,
    retryBudgetMs: config.RETRY_BUDGET_MS,
    batchSize: config.CONSUMER_BATCH_SIZE,
    concurrency: config.CONSUMER_CONCURRENCY,
    announceStored: config.ANNOUNCE_STORED,
    onBeforeAck: crashPoint(config.AA_CRASH_POINT, "normalize:after-commit-before-ack", config.AA_CRASH_AFTER),
    beforeWrite: crashPoint(config.AA_CRASH_POINT, "normalize:before-commit", config.AA_CRASH_AFTER),
  };
  const oura = setUpOura(ouraConfig, { pool, registry, logger });
  const consumers = [
    { label: "HRV", consumer: hrvConsumer(deps) },
    { label: "Sleep", consumer: sleepConsumer(deps) },
    ...oura.consumers(deps),
  ];
  await startConsumers(consumers.map((c) => c.consumer));

  const progress = () => consumers.flatMap((c) => c.consumer.progress());
  const trustProxy = parseTrustProxy(config.TRUST_PROXY);
  const app = await buildApp({ pool, link, registry, logger, consumers: progress, oura: oura.link, trustProxy });
  await app.listen({ port: config.PORT, host: config.HOST });
  if (!config.ANNOUNCE_STORED)
    logger.info(
      "[normalize] ANNOUNCE_STORED=false: stored readings are not announced on athlete-ally.<kind>.normalized-stored",
    );
  logger.info(`[normalize] Listening on http://${config.HOST}:${config.PORT}`);

  let stopping = false;
  const fail = (message: string) => (error: unknown) => {
    if (stopping) return;
    logger.fatal({ err: error }, message);
    process.exit(1);
  };
  for (const { label, consumer } of consumers)
    consumer.failure.catch(fail(`[normalize] ${label} consume loop ended unexpectedly; exiting`));
  link.nc
    .closed()
    .then(
      fail("[normalize] NATS connection closed for good; exiting"),
      fail("[normalize] NATS connection failed; exiting"),
    );

  onShutdownSignal(logger, async () => {
    stopping = true;
    oura.stop();
    await Promise.all(consumers.map((c) => c.consumer.stop()));
    await app.close();
    await link.nc.drain();
    await pool.end();
    await tracing.shutdown();
  });
}

main().catch((error: unknown) => exitOnStartupError(bootLogger, error));
