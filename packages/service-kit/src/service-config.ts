import { Type, type Static, type TObject } from "@sinclair/typebox";
import { describeStreamMode, eventBusSettings, StreamModeError, type EventBusSettings } from "@aa/event-bus";
import { collect, ConfigError, loadConfig, type Derive, type Env } from "./config.js";
import { parseTrustProxy } from "./http.js";
import { createLogger, type Logger } from "./logger.js";
import { natsSecurityFromEnv, natsUrlProblem, type NatsSecurity } from "./nats-security.js";
import { startTracing, tracingSettings, type Tracing, type TracingSettings } from "./tracing.js";

const optionalText = () => Type.Optional(Type.String());

/**
 * The env vars every service reads, to spread into its own schema: HTTP, NATS (URL, credentials,
 * TLS), the event bus (stream mode, names, stream management), logging, tracing and the fault
 * suite's crash points. `port` is the service's default PORT. What they mean: docs/configuration.md.
 */
export function serviceConfigProperties(port: number) {
  return {
    PORT: Type.Integer({ minimum: 0, maximum: 65535, default: port }),
    HOST: Type.String({ default: "0.0.0.0" }),
    /** `false` (default), `true`, a hop count, or comma-separated proxy IPs/CIDRs whose X-Forwarded-For is believed. */
    TRUST_PROXY: Type.String({ default: "false" }),
    NATS_URL: Type.String({ default: "nats://127.0.0.1:4222" }),
    // Credentials and TLS, checked (files read) by natsSecurityFromEnv.
    NATS_USER: optionalText(),
    NATS_PASSWORD: optionalText(),
    NATS_TOKEN: optionalText(),
    NATS_NKEY_SEED: optionalText(),
    NATS_NKEY_SEED_FILE: optionalText(),
    NATS_CREDS_FILE: optionalText(),
    NATS_TLS_CA_FILE: optionalText(),
    NATS_TLS_CERT_FILE: optionalText(),
    NATS_TLS_KEY_FILE: optionalText(),
    NATS_INBOX_PREFIX: optionalText(),
    /** `multi` (default) or `single`, trimmed, case-insensitive: parsed by the event bus's one mode parser. */
    EVENT_STREAM_MODE: optionalText(),
    // Stream and durable name overrides (topologyNamesFromEnv has the defaults).
    STREAM_CORE_NAME: optionalText(),
    STREAM_VENDOR_NAME: optionalText(),
    STREAM_DLQ_NAME: optionalText(),
    STREAM_DLQ_ADVISORIES_NAME: optionalText(),
    STREAM_LEGACY_NAME: optionalText(),
    NORMALIZE_HRV_DURABLE: optionalText(),
    NORMALIZE_SLEEP_DURABLE: optionalText(),
    NORMALIZE_OURA_DURABLE: optionalText(),
    FEATURE_SERVICE_MANAGES_STREAMS: Type.Boolean({ default: false }),
    REPLICAS: Type.Integer({ minimum: 1, maximum: 5, default: 1 }),
    LOG_LEVEL: Type.String({ default: "info" }),
    LOG_FORMAT: Type.Union([Type.Literal("json"), Type.Literal("pretty")], { default: "json" }),
    /** Key of the HMAC that stands for user ids in the logs; unset: a random key per process. */
    LOG_HASH_KEY: Type.Optional(Type.String({ minLength: 32 })),
    // The OTEL_* variables this process decides on (tracingSettings); the SDK reads the others itself.
    OTEL_SDK_DISABLED: optionalText(),
    OTEL_SERVICE_NAME: optionalText(),
    OTEL_TRACES_EXPORTER: optionalText(),
    OTEL_EXPORTER_OTLP_ENDPOINT: optionalText(),
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: optionalText(),
    OTEL_EXPORTER_OTLP_PROTOCOL: optionalText(),
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: optionalText(),
    OTEL_TRACES_SAMPLER: optionalText(),
    OTEL_TRACES_SAMPLER_ARG: optionalText(),
    /** Test-only (fault suite): a crash point of this service, e.g. `ingest:after-puback-before-reply`. */
    AA_CRASH_POINT: optionalText(),
    /** Test-only: SIGKILL on this occurrence of AA_CRASH_POINT. */
    AA_CRASH_AFTER: Type.Integer({ minimum: 1, default: 1 }),
  };
}

export type ServiceConfigProperties = ReturnType<typeof serviceConfigProperties>;

/** What the shared variables decide, once, when the config is loaded. */
export interface ServiceSettings {
  /** `ingest`, `normalize`: the logger's `service` and the tag of the service's own log lines. */
  service: string;
  eventBus: EventBusSettings;
  natsSecurity: NatsSecurity;
  tracing: TracingSettings;
  /** TRUST_PROXY as Fastify's `trustProxy`. */
  trustProxy: boolean | number | string[];
}

type SharedValues = Static<TObject<ServiceConfigProperties>>;

/** A service's loaded config: the shared variables and what they decide. */
export type ServiceConfig = Readonly<SharedValues & ServiceSettings>;

/** The string-valued settings, as the env-like parsers of NATS security, tracing and the event bus read them. */
const textOf = (config: object): Env =>
  Object.fromEntries(Object.entries(config).filter(([, value]) => typeof value === "string"));

// The event bus's one mode parser; its StreamModeError joins the other problems.
function streamSettings(env: Env): EventBusSettings {
  try {
    return eventBusSettings(env);
  } catch (error) {
    throw error instanceof StreamModeError ? new ConfigError([error.message]) : error;
  }
}

function sharedSettings(service: string, config: SharedValues, problems: string[]) {
  const env = textOf(config);
  const urlProblem = natsUrlProblem(config.NATS_URL.split(",").map((server) => server.trim()));
  if (urlProblem !== undefined) problems.push(urlProblem);
  return {
    service,
    eventBus: collect(problems, () => streamSettings(env)),
    natsSecurity: collect(problems, () => natsSecurityFromEnv(env)),
    tracing: collect(problems, () => tracingSettings(env, `${service}-service`)),
    trustProxy: parseTrustProxy(config.TRUST_PROXY),
  } satisfies ServiceSettings;
}

/**
 * Loads a service's config: `schema` is `serviceConfigProperties` spread with the service's own;
 * `own` decides the service's own settings. Every problem (schema, stream mode, NATS credentials
 * and files, tracing, the service's own) is reported at once in one ConfigError.
 */
export function loadServiceConfig<
  S extends TObject & { properties: ServiceConfigProperties },
  D extends object = object,
>(service: string, schema: S, env: Env, own?: Derive<Static<S>, D>): Readonly<Static<S> & ServiceSettings & D> {
  return loadConfig(schema, env, (config, problems) => ({
    // S has the shared properties (the constraint), so its values have the shared ones.
    ...sharedSettings(service, config as SharedValues, problems),
    ...(own?.(config, problems) as D),
  }));
}

/** A started service process: its logger and tracing. */
export interface ServiceProcess {
  logger: Logger;
  tracing: Tracing;
}

/**
 * How every service process begins, once its config is loaded: the logger from LOG_*, tracing,
 * the LOG_HASH_KEY warning and the runbook's `[event-bus] Stream mode: …` line.
 */
export async function startServiceProcess(config: ServiceConfig): Promise<ServiceProcess> {
  const { service } = config;
  const logger = createLogger({
    service,
    level: config.LOG_LEVEL,
    format: config.LOG_FORMAT,
    userIdHashKey: config.LOG_HASH_KEY,
  });
  // First, so every span of this process (HTTP, publish, consume) goes to the registered SDK.
  const tracing = await startTracing(config.tracing, logger);
  if (config.LOG_HASH_KEY === undefined)
    logger.warn(
      `[${service}] LOG_HASH_KEY is not set: user ids in the logs are hashed with a random key of this process, ` +
        "so they match only within its own logs",
    );
  logger.info(describeStreamMode(config.eventBus.mode, config.EVENT_STREAM_MODE));
  return { logger, tracing };
}
