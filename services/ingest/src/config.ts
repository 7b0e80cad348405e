import { Type, type Static } from "@sinclair/typebox";
import { collect, ConfigError, loadServiceConfig, serviceConfigProperties, type Env } from "@aa/service-kit";
import { authSettingsOf } from "./auth/settings.js";
import type { OuraWebhookSettings } from "./oura.js";

/** Oura's client secrets (the key of its webhook HMAC) are 32 characters. */
const MIN_WEBHOOK_SECRET_LENGTH = 32;

/** Every env var ingest reads: the shared ones (NATS, event bus, HTTP, logging, tracing) and its own. */
export const IngestConfigSchema = Type.Object({
  ...serviceConfigProperties(4101),
  /** How long one request keeps retrying a publish JetStream did not acknowledge, in ms. */
  PUBLISH_RETRY_BUDGET_MS: Type.Integer({ minimum: 0, maximum: 110_000, default: 10_000 }),
  PUBLISH_ACK_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 5_000 }),
  BODY_LIMIT_BYTES: Type.Integer({ minimum: 1024, default: 262_144 }),
  /** Body limit of `POST /ingest/<kind>/batch` (up to 1,000 readings). */
  BATCH_BODY_LIMIT_BYTES: Type.Integer({ minimum: 1024, default: 2_097_152 }),
  /**
   * Publishes awaiting their PubAck at once; past it requests get 503 + Retry-After instead of queueing without bound.
   */
  PUBLISH_MAX_IN_FLIGHT: Type.Integer({ minimum: 1, default: 20_000 }),
  /**
   * Signs Oura webhooks (HMAC-SHA256; Oura keys it with the app's 32-character client secret);
   * unset: /webhooks/oura answers 503. Shorter than 32 characters is refused: it could be guessed.
   */
  OURA_WEBHOOK_SECRET: Type.Optional(Type.String({ minLength: MIN_WEBHOOK_SECRET_LENGTH })),
  /** The secret before a rotation, also accepted until it is removed; the same minimum. */
  OURA_WEBHOOK_SECRET_PREVIOUS: Type.Optional(Type.String({ minLength: MIN_WEBHOOK_SECRET_LENGTH })),
  /** Failed signature checks per client address per window; past them 429 before the body is read. 0: off. */
  OURA_WEBHOOK_FAILURES_MAX: Type.Integer({ minimum: 0, default: 30 }),
  OURA_WEBHOOK_FAILURES_WINDOW_MS: Type.Integer({ minimum: 1_000, default: 60_000 }),
  /** Expected `verification_token` of Oura's GET handshake. */
  OURA_VERIFICATION_TOKEN: Type.Optional(Type.String()),
  /** `api-key` (default), `jwt`, `api-key,jwt`, or `none` (no authentication: local development only). */
  INGEST_AUTH_MODE: Type.String({ default: "api-key" }),
  /** Where `ingest_api_keys` is (api-key mode): the database normalize migrates. */
  DATABASE_URL: Type.String({ default: "postgres://athlete@127.0.0.1:5432/athlete_normalize" }),
  DATABASE_SCHEMA: Type.String({ pattern: "^[a-z_][a-z0-9_]{0,62}$", default: "public" }),
  /** TLS to PostgreSQL as libpq reads it (the URL's sslmode/sslrootcert win); see docs/security.md. */
  PGSSLMODE: Type.Optional(Type.String()),
  PGSSLROOTCERT: Type.Optional(Type.String()),
  /** How often the API keys are reloaded: a revocation takes effect within this. */
  API_KEY_REFRESH_MS: Type.Integer({ minimum: 100, default: 10_000 }),
  /**
   * Failed authentications per client address per window; past them the address may not make ingest
   * look a key up in PostgreSQL (429) until the window ends. Keys already in memory keep working. 0: off.
   */
  AUTH_FAILURES_MAX: Type.Integer({ minimum: 0, default: 20 }),
  AUTH_FAILURES_WINDOW_MS: Type.Integer({ minimum: 1_000, default: 60_000 }),
  INGEST_JWT_ISSUER: Type.Optional(Type.String()),
  INGEST_JWT_AUDIENCE: Type.Optional(Type.String()),
  /** HS256 shared secret, at least 32 bytes. */
  INGEST_JWT_SECRET: Type.Optional(Type.String({ minLength: 32 })),
  /** RS256/ES256 public keys as a JWKS document on disk ... */
  INGEST_JWT_JWKS_FILE: Type.Optional(Type.String()),
  /** ... or at a URL (fetched on demand, cached). */
  INGEST_JWT_JWKS_URL: Type.Optional(Type.String({ pattern: "^https?://" })),
  /**
   * Readings per credential (per client IP when INGEST_AUTH_MODE=none) per RATE_LIMIT_WINDOW_MS, a batch
   * counting each of its readings; 0 turns rate limiting off.
   */
  RATE_LIMIT_MAX: Type.Integer({ minimum: 0, default: 1_000 }),
  RATE_LIMIT_WINDOW_MS: Type.Integer({ minimum: 100, default: 1_000 }),
  /** Shed load (503 + Retry-After) while the event loop lags more than this; 0 turns it off. */
  MAX_EVENT_LOOP_DELAY_MS: Type.Integer({ minimum: 0, default: 1_000 }),
  /**
   * Shed `/ingest/*` requests (503 + Retry-After) that would take the heap past this percentage of V8's old space less
   * two semi-spaces for the young generation, counting each request in flight at its estimated peak; 0 turns it off.
   */
  SHED_HEAP_PERCENT: Type.Integer({ minimum: 0, maximum: 100, default: 85 }),
  /** Largest request head (request line + headers); larger gets 431. */
  MAX_HEADER_BYTES: Type.Integer({ minimum: 1024, maximum: 65_536, default: 16_384 }),
  /**
   * Time a client has to send its whole request; past it 408 and the connection is closed (a trickled body cannot hold
   * it).
   */
  REQUEST_TIMEOUT_MS: Type.Integer({ minimum: 1_000, default: 30_000 }),
  /** Serve /health and /metrics on this port (and ADMIN_HOST) instead of PORT. */
  ADMIN_PORT: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
  ADMIN_HOST: Type.Optional(Type.String()),
});
export type IngestConfig = Static<typeof IngestConfigSchema>;

/** The loaded config with the webhook and authentication settings decided; every problem in one ConfigError. */
export const loadIngestConfig = (env: Env) =>
  loadServiceConfig("ingest", IngestConfigSchema, env, (config, problems) => ({
    oura: collect(problems, () => ouraWebhookSettings(config)),
    auth: collect(problems, () => authSettingsOf(config)),
  }));

/** The webhook settings, or undefined (webhooks disabled) when no secret is set. */
export function ouraWebhookSettings(config: IngestConfig): OuraWebhookSettings | undefined {
  if (config.OURA_WEBHOOK_SECRET === undefined) {
    if (config.OURA_WEBHOOK_SECRET_PREVIOUS !== undefined)
      throw new ConfigError([
        "OURA_WEBHOOK_SECRET_PREVIOUS is set but OURA_WEBHOOK_SECRET is not: set the current secret too",
      ]);
    return undefined;
  }
  const secrets = [config.OURA_WEBHOOK_SECRET, config.OURA_WEBHOOK_SECRET_PREVIOUS].filter(
    (s): s is string => s !== undefined,
  );
  const failures = { max: config.OURA_WEBHOOK_FAILURES_MAX, windowMs: config.OURA_WEBHOOK_FAILURES_WINDOW_MS };
  return { secrets, verificationToken: config.OURA_VERIFICATION_TOKEN, failures };
}
