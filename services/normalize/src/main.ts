import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import {
  EventPublisher,
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
  recordNatsConnection,
  startServiceProcess,
} from "@aa/service-kit";
import { buildApp } from "./app.js";
import { loadNormalizeConfig } from "./config.js";
import { checkConnection, createPool } from "./db.js";
import { setUpOura } from "./oura/setup.js";
import { assertMigrated, migrateSchema } from "./schema-migrations.js";
import { startConsumers } from "./reading-flow.js";
import { readingKinds } from "./reading-kinds.js";

const bootLogger = createLogger({
  service: "normalize",
  format: process.env.LOG_FORMAT === "pretty" ? "pretty" : "json",
});

async function main(): Promise<void> {
  const config = loadNormalizeConfig(process.env);
  const settings = config.eventBus;
  const { logger, tracing } = await startServiceProcess(config);
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
  if (config.RUN_MIGRATIONS) await migrateSchema(pool, config.DATABASE_SCHEMA, logger);
  else await assertMigrated(pool, config.DATABASE_SCHEMA);

  const security = config.natsSecurity;
  const link = await connectNats({ url: config.NATS_URL, name: "normalize-service", logger, security });
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
    nc: link.nc,
    inboxPrefix: security.inboxPrefix,
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
  const oura = setUpOura(config.oura, { pool, registry, logger });
  const consumers = [
    ...readingKinds.map((kind) => ({ label: kind.label, consumer: kind.consumer(deps) })),
    ...oura.consumers(deps),
  ];
  await startConsumers(consumers.map((c) => c.consumer));

  const progress = () => consumers.flatMap((c) => c.consumer.progress());
  const { trustProxy } = config;
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
