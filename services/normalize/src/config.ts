import { Type, type Static } from "@sinclair/typebox";
import { loadConfig } from "@aa/service-kit";

/** Every env var normalize reads. Stream/durable names and EVENT_STREAM_MODE are parsed by the event bus. */
export const NormalizeConfigSchema = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 4102 }),
  HOST: Type.String({ default: "0.0.0.0" }),
  NATS_URL: Type.String({ default: "nats://127.0.0.1:4222" }),
  DATABASE_URL: Type.String({ default: "postgres://athlete@127.0.0.1:5432/athlete_normalize" }),
  /** Schema holding the tables (search_path); created by the migrations when missing. */
  DATABASE_SCHEMA: Type.String({ pattern: "^[a-z_][a-z0-9_]{0,62}$", default: "public" }),
  DATABASE_POOL_MAX: Type.Integer({ minimum: 1, default: 10 }),
  /** Apply pending migrations at startup; set false when ops runs `npm run migrate`. */
  RUN_MIGRATIONS: Type.Boolean({ default: true }),
  EVENT_STREAM_MODE: Type.Optional(Type.String()),
  FEATURE_SERVICE_MANAGES_STREAMS: Type.Boolean({ default: false }),
  FEATURE_SERVICE_MANAGES_CONSUMERS: Type.Boolean({ default: false }),
  REPLICAS: Type.Integer({ minimum: 1, maximum: 5, default: 1 }),
  /** How long a failing event is retried before it may be dead-lettered, in ms. */
  RETRY_BUDGET_MS: Type.Integer({ minimum: 0, default: 600_000 }),
  LOG_LEVEL: Type.String({ default: "info" }),
  LOG_FORMAT: Type.Union([Type.Literal("json"), Type.Literal("pretty")], { default: "json" }),
});
export type NormalizeConfig = Static<typeof NormalizeConfigSchema>;

export const loadNormalizeConfig = (env: Record<string, string | undefined>) => loadConfig(NormalizeConfigSchema, env);

/** `npm run migrate` reads only the database settings. */
export const MigrateConfigSchema = Type.Pick(NormalizeConfigSchema, ["DATABASE_URL", "DATABASE_SCHEMA"]);
export const loadMigrateConfig = (env: Record<string, string | undefined>) => loadConfig(MigrateConfigSchema, env);
