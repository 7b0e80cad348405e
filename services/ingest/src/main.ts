import { getHeapStatistics } from "node:v8";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type pg from "pg";
import { Subjects } from "@aa/contracts";
import { EventPublisher, manageStreams, type StreamMode } from "@aa/event-bus";
import {
  ConfigError,
  connectNats,
  crashPoint,
  createLogger,
  createMetricsRegistry,
  exitOnStartupError,
  onShutdownSignal,
  createPostgresPool,
  recordNatsConnection,
  startServiceProcess,
  type Logger,
} from "@aa/service-kit";
import { buildAdminApp, buildApp } from "./app.js";
import { loadIngestConfig, type IngestConfig } from "./config.js";
import type { AuthSettings } from "./auth/settings.js";
import type { OuraWebhookSettings } from "./oura.js";
import { ApiKeyCache } from "./auth/api-key-cache.js";
import { createJwtVerifier } from "./auth/jwt.js";
import type { Authenticators } from "./auth/authenticate.js";
import { WindowLimiter } from "./limits/window-limiter.js";
import { heapBudgetBytes, heapCap, type HeapCap } from "./limits/heap-budget.js";

const bootLogger = createLogger({ service: "ingest", format: process.env.LOG_FORMAT === "pretty" ? "pretty" : "json" });

async function main(): Promise<void> {
  const config = loadIngestConfig(process.env);
  const heap = heapBudgetOf(config.SHED_HEAP_PERCENT);
  const { oura, eventBus: settings } = config;
  const { logger, tracing } = await startServiceProcess(config);
  logHeapBudget(heap, config.SHED_HEAP_PERCENT, logger);
  const security = config.natsSecurity;
  const link = await connectNats({ url: config.NATS_URL, name: "ingest-service", logger, security });
  const jsm = config.FEATURE_SERVICE_MANAGES_STREAMS
    ? await manageStreams(link.nc, settings, config.REPLICAS, logger)
    : await jetstreamManager(link.nc);
  await logRoute(jsm, settings.mode, logger);
  const auth = await startAuthentication(config.auth, config, logger);

  const registry = createMetricsRegistry();
  recordNatsConnection(registry, link);
  const publisher = new EventPublisher({
    js: jetstream(link.nc),
    logger,
    registry,
    retryBudgetMs: config.PUBLISH_RETRY_BUDGET_MS,
    ackTimeoutMs: config.PUBLISH_ACK_TIMEOUT_MS,
    maxInFlight: config.PUBLISH_MAX_IN_FLIGHT,
    nc: link.nc,
    inboxPrefix: security.inboxPrefix,
  });
  const adminPort = config.ADMIN_PORT;
  const app = await buildApp({
    publisher,
    link,
    registry,
    logger,
    auth: auth?.authenticators,
    rateLimit: { max: config.RATE_LIMIT_MAX, windowMs: config.RATE_LIMIT_WINDOW_MS },
    maxEventLoopDelayMs: config.MAX_EVENT_LOOP_DELAY_MS,
    heapBudgetBytes: heap.budgetBytes,
    maxHeaderBytes: config.MAX_HEADER_BYTES,
    requestTimeoutMs: config.REQUEST_TIMEOUT_MS,
    trustProxy: config.trustProxy,
    adminRoutes: adminPort === undefined,
    adminPort,
    bodyLimitBytes: config.BODY_LIMIT_BYTES,
    batchBodyLimitBytes: config.BATCH_BODY_LIMIT_BYTES,
    oura,
    afterPubAck: crashPoint(config.AA_CRASH_POINT, "ingest:after-puback-before-reply", config.AA_CRASH_AFTER),
  });
  logOuraWebhooks(oura, logger);
  const admin = adminPort === undefined ? undefined : buildAdminApp({ link, registry, logger });
  if (admin) {
    const adminHost = config.ADMIN_HOST ?? config.HOST;
    await admin.listen({ port: adminPort, host: adminHost });
    logger.info(
      `[ingest] /health and /metrics on http://${adminHost}:${adminPort} (ADMIN_PORT); /metrics not on ${config.PORT}`,
    );
  }
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
    await admin?.close();
    await auth?.stop();
    await link.nc.drain();
    await tracing.shutdown();
  });
}

const MiB = 1024 * 1024;

/** The heap budget of SHED_HEAP_PERCENT (0: off) in the old space this process was started with. */
function heapBudgetOf(percent: number): HeapCap & { budgetBytes: number } {
  const cap = heapCap({
    execArgv: process.execArgv,
    nodeOptions: process.env.NODE_OPTIONS,
    heapSizeLimitBytes: getHeapStatistics().heap_size_limit,
  });
  if (percent > 0 && cap.capBytes <= 0)
    throw new ConfigError([
      `SHED_HEAP_PERCENT=${percent} needs an old space larger than the ${cap.youngAllowanceBytes / MiB} MiB ` +
        `kept for the young generation, got ${(cap.capBytes + cap.youngAllowanceBytes) / MiB} MiB ` +
        "(--max-old-space-size): raise it, or set SHED_HEAP_PERCENT=0",
    ]);
  return { ...cap, budgetBytes: percent === 0 ? 0 : heapBudgetBytes(cap.capBytes, percent) };
}

function logHeapBudget(heap: HeapCap & { budgetBytes: number }, percent: number, logger: Logger): void {
  if (heap.budgetBytes === 0)
    return logger.warn(
      "[ingest] SHED_HEAP_PERCENT=0: no heap-based load shedding; a burst of large batches can exhaust the heap",
    );
  const mib = (bytes: number) => (bytes / MiB).toFixed(1);
  logger.info(
    `[ingest] Heap budget ${mib(heap.budgetBytes)} MiB (${percent}% of ${mib(heap.capBytes)} MiB: the old space less ` +
      `${mib(heap.youngAllowanceBytes)} MiB for the young generation); /ingest/* requests past it get 503`,
  );
}

// Two connections, each lookup a millisecond: more than this in flight is a flood, answered 503 at once.
const MAX_KEY_LOOKUPS_IN_FLIGHT = 8;

function failureLimiter(config: IngestConfig): WindowLimiter | undefined {
  if (config.AUTH_FAILURES_MAX === 0) return undefined;
  return new WindowLimiter({ max: config.AUTH_FAILURES_MAX, windowMs: config.AUTH_FAILURES_WINDOW_MS });
}

/**
 * The configured authenticators, with the API keys loaded; undefined for INGEST_AUTH_MODE=none (logged as a warning).
 */
async function startAuthentication(
  settings: AuthSettings,
  config: IngestConfig,
  logger: Logger,
): Promise<{ authenticators: Authenticators; stop(): Promise<void> } | undefined> {
  if (settings.methods.size === 0) {
    logger.warn(
      "[ingest] INGEST_AUTH_MODE=none: /ingest/* accepts requests WITHOUT authentication, " +
        "from anyone who can reach this port. For local development only; " +
        "set INGEST_AUTH_MODE=api-key (the default) in any shared environment",
    );
    return undefined;
  }
  const pools: pg.Pool[] = [];
  let apiKeys: ApiKeyCache | undefined;
  if (settings.methods.has("api-key")) {
    const onIdleError = (error: Error) => logger.warn({ err: error }, "idle PostgreSQL connection failed");
    const open = (max: number, applicationName: string) => {
      const { DATABASE_URL: url, DATABASE_SCHEMA: schema } = config;
      const pool = createPostgresPool({
        url,
        tls: config,
        schema,
        max,
        applicationName,
        queryTimeoutMs: 10_000,
        onIdleError,
      });
      pools.push(pool);
      return pool;
    };
    // Keys are reloaded in bulk every API_KEY_REFRESH_MS on a connection of their own, so lookups of
    // unknown key ids, however many, never queue in front of a reload (a revocation must not wait).
    const [lookups, reloads] = [open(2, "ingest-key-lookups"), open(1, "ingest-key-reload")];
    const refreshMs = config.API_KEY_REFRESH_MS;
    apiKeys = new ApiKeyCache({ lookups, reloads, logger, refreshMs, maxLookupsInFlight: MAX_KEY_LOOKUPS_IN_FLIGHT });
    await apiKeys.start();
  }
  const verifyJwt = settings.jwt === undefined ? undefined : createJwtVerifier(settings.jwt);
  logger.info(
    `[ingest] Authentication: ${[...settings.methods].join(", ")}` +
      (settings.jwt
        ? ` (JWT issuer ${settings.jwt.issuer}, audience ${settings.jwt.audience}, ${settings.jwt.key.kind})`
        : ""),
  );
  return {
    authenticators: {
      methods: settings.methods,
      apiKeys,
      verifyJwt,
      now: () => new Date(),
      failures: failureLimiter(config),
    },
    async stop() {
      apiKeys?.stop();
      await Promise.all(pools.map((pool) => pool.end()));
    },
  };
}

function logOuraWebhooks(oura: OuraWebhookSettings | undefined, logger: Logger): void {
  if (!oura)
    return logger.warn("[ingest] Oura webhooks disabled: OURA_WEBHOOK_SECRET is not set; /webhooks/oura answers 503");
  const rotation = oura.secrets.length > 1 ? " (rotation: OURA_WEBHOOK_SECRET_PREVIOUS accepted too)" : "";
  const handshake =
    oura.verificationToken === undefined
      ? "; OURA_VERIFICATION_TOKEN is not set, so the subscription handshake answers 503"
      : "";
  logger.info(`[ingest] Oura webhooks enabled at /webhooks/oura${rotation}${handshake}`);
}

/** Says which stream will store each accepted reading: publishing follows subjects, not the mode. */
async function logRoute(
  jsm: Awaited<ReturnType<typeof jetstreamManager>>,
  mode: StreamMode,
  logger: Logger,
): Promise<void> {
  // Name what Kubernetes runs (the topology Job) and the runbook's script doing the same.
  const create =
    `npx aa-ops topology apply --mode ${mode} ` + "(runbook equivalent: node docs/phase-3/ops/create-streams.js)";
  for (const subject of [
    Subjects.hrvRawReceived.subject,
    Subjects.sleepRawReceived.subject,
    Subjects.ouraWebhookReceived.subject,
  ]) {
    try {
      logger.info(`[ingest] ${subject} is stored by stream ${await jsm.streams.find(subject)}`);
    } catch {
      logger.error(
        `[ingest] No stream owns ${subject}: publishes will fail with 503 until one does. ` +
          `Create streams with: ${create}`,
      );
    }
  }
}

main().catch((error: unknown) => exitOnStartupError(bootLogger, error));
