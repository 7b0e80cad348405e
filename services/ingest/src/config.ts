import { Type, type Static } from "@sinclair/typebox";
import { loadConfig } from "@aa/service-kit";

/** Every env var ingest reads. Stream names and EVENT_STREAM_MODE are read by the event bus helpers. */
export const IngestConfigSchema = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 4101 }),
  HOST: Type.String({ default: "0.0.0.0" }),
  NATS_URL: Type.String({ default: "nats://127.0.0.1:4222" }),
  EVENT_STREAM_MODE: Type.Optional(Type.String()),
  FEATURE_SERVICE_MANAGES_STREAMS: Type.Boolean({ default: false }),
  REPLICAS: Type.Integer({ minimum: 1, maximum: 5, default: 1 }),
  /** How long one request keeps retrying a publish JetStream did not acknowledge, in ms. */
  PUBLISH_RETRY_BUDGET_MS: Type.Integer({ minimum: 0, maximum: 110_000, default: 10_000 }),
  PUBLISH_ACK_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 5_000 }),
  BODY_LIMIT_BYTES: Type.Integer({ minimum: 1024, default: 262_144 }),
  LOG_LEVEL: Type.String({ default: "info" }),
  LOG_FORMAT: Type.Union([Type.Literal("json"), Type.Literal("pretty")], { default: "json" }),
});
export type IngestConfig = Static<typeof IngestConfigSchema>;

export const loadIngestConfig = (env: Record<string, string | undefined>) => loadConfig(IngestConfigSchema, env);
