import { Type, type Static } from "@sinclair/typebox";
import { collect, loadConfig, loadServiceConfig, serviceConfigProperties, type Env } from "@aa/service-kit";
import { OuraConfigSchema, ouraSettings } from "./oura/settings.js";

/**
 * Every env var normalize reads: the shared ones (NATS, event bus, HTTP, logging, tracing; crash points
 * `normalize:after-commit-before-ack` and `normalize:before-commit`) and its own.
 */
export const NormalizeConfigSchema = Type.Object({
  ...serviceConfigProperties(4102),
  DATABASE_URL: Type.String({ default: "postgres://athlete@127.0.0.1:5432/athlete_normalize" }),
  /** Schema holding the tables (search_path); created by the migrations when missing. */
  DATABASE_SCHEMA: Type.String({ pattern: "^[a-z_][a-z0-9_]{0,62}$", default: "public" }),
  DATABASE_POOL_MAX: Type.Integer({ minimum: 1, default: 10 }),
  /** libpq's TLS settings, used when DATABASE_URL has no sslmode / sslrootcert (see postgresConnectionConfig). */
  PGSSLMODE: Type.Optional(Type.String()),
  PGSSLROOTCERT: Type.Optional(Type.String()),
  /** Apply pending migrations at startup; set false when ops runs `npm run db:migrate`. */
  RUN_MIGRATIONS: Type.Boolean({ default: true }),
  FEATURE_SERVICE_MANAGES_CONSUMERS: Type.Boolean({ default: false }),
  /** Most raw readings one consumer handles in one batch (one PostgreSQL statement, then the acks). */
  CONSUMER_BATCH_SIZE: Type.Integer({ minimum: 1, maximum: 5_000, default: 500 }),
  /** Batches one consumer binding processes at once (each its own statement and connection). */
  CONSUMER_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 16, default: 2 }),
  /**
   * Publish `athlete-ally.<kind>.normalized-stored` after each stored row. One JetStream publish
   * per event halves the backlog drain rate; `false` when nothing consumes the announcements.
   */
  ANNOUNCE_STORED: Type.Boolean({ default: true }),
  /** How long a failing event is retried before it may be dead-lettered, in ms. */
  RETRY_BUDGET_MS: Type.Integer({ minimum: 0, default: 600_000 }),
  /** OURA_*: declared beside `ouraSettings`, which decides whether they enable Oura. */
  ...OuraConfigSchema.properties,
});
export type NormalizeConfig = Static<typeof NormalizeConfigSchema>;

/** The loaded config with the Oura settings decided (undefined: Oura off); every problem in one ConfigError. */
export const loadNormalizeConfig = (env: Env) =>
  loadServiceConfig("normalize", NormalizeConfigSchema, env, (config, problems) => ({
    oura: collect(problems, () => ouraSettings(config)),
  }));

/** `npm run db:migrate` reads only the database settings. */
export const MigrateConfigSchema = Type.Pick(NormalizeConfigSchema, [
  "DATABASE_URL",
  "DATABASE_SCHEMA",
  "PGSSLMODE",
  "PGSSLROOTCERT",
]);
export const loadMigrateConfig = (env: Env) => loadConfig(MigrateConfigSchema, env);
