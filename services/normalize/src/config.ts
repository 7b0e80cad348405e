import { Type, type Static } from "@sinclair/typebox";
import { collect, loadConfig, loadServiceConfig, serviceConfigProperties, type Env } from "@aa/service-kit";
import { ouraSettings } from "./oura-settings.js";

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
  /**
   * Oura OAuth app; with OURA_CLIENT_SECRET, OURA_TOKEN_ENCRYPTION_KEY and OURA_REDIRECT_URI it enables Oura
   * (all four or none).
   */
  OURA_CLIENT_ID: Type.Optional(Type.String()),
  OURA_CLIENT_SECRET: Type.Optional(Type.String()),
  /** AES-256-GCM key for tokens at rest: 32 bytes, base64 (`openssl rand -base64 32`). */
  OURA_TOKEN_ENCRYPTION_KEY: Type.Optional(Type.String()),
  /** The callback registered with Oura: this service's `/auth/oura/callback` as the browser reaches it. */
  OURA_REDIRECT_URI: Type.Optional(Type.String({ pattern: "^https?://" })),
  /**
   * HS256 key of the link tokens that authorize `/auth/oura/link` (minted by the app's backend for its
   * signed-in user, or `aa-ops oura link-token`); required when Oura is enabled.
   */
  OURA_LINK_TOKEN_SECRET: Type.Optional(Type.String({ minLength: 32 })),
  /**
   * The app's page the browser returns to after Oura's consent, with `oura_link_completion`; the app's backend
   * confirms the link for its signed-in user (`POST /auth/oura/confirm`). Required when Oura is enabled.
   */
  OURA_LINK_RETURN_URL: Type.Optional(Type.String({ pattern: "^https?://" })),
  /** Requests to `/auth/oura/link` and `/auth/oura/callback` per client address per window; 0 turns the limit off. */
  OURA_LINK_RATE_LIMIT_MAX: Type.Integer({ minimum: 0, default: 30 }),
  OURA_LINK_RATE_LIMIT_WINDOW_MS: Type.Integer({ minimum: 1_000, default: 60_000 }),
  OURA_API_BASE_URL: Type.String({ pattern: "^https?://", default: "https://api.ouraring.com" }),
  OURA_TOKEN_URL: Type.String({ pattern: "^https?://", default: "https://api.ouraring.com/oauth/token" }),
  OURA_AUTHORIZE_URL: Type.String({ pattern: "^https?://", default: "https://cloud.ouraring.com/oauth/authorize" }),
  /** Space-separated OAuth scopes requested at linking (`daily` covers sleep documents). */
  OURA_SCOPES: Type.String({ minLength: 1, default: "personal daily" }),
  /** Per Oura request, in ms; three calls (fetch, refresh, fetch) must fit in the durable's 15 s ack wait. */
  OURA_API_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 60_000, default: 4_000 }),
  /** How often the webhook subscriptions are listed for `oura_webhook_subscription_expiry_seconds`, in ms. */
  OURA_SUBSCRIPTION_CHECK_INTERVAL_MS: Type.Integer({ minimum: 1_000, default: 900_000 }),
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
