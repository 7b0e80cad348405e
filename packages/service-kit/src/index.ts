export { collect, ConfigError, loadConfig, type Derive, type Env } from "./config.js";
export {
  loadServiceConfig,
  serviceConfigProperties,
  startServiceProcess,
  type ServiceConfig,
  type ServiceConfigProperties,
  type ServiceProcess,
  type ServiceSettings,
} from "./service-config.js";
export { createLogger, userIdHasher, type Logger, type LoggerOptions } from "./logger.js";
export {
  createPostgresPool,
  postgresConnectionConfig,
  withoutPassword,
  type PostgresConnectionConfig,
  type PostgresPoolOptions,
  type PostgresTlsEnv,
} from "./postgres.js";
export { createMetricsRegistry, recordNatsConnection } from "./metrics.js";
export {
  connectNats,
  type NatsConnection,
  type NatsConnectOptions,
  type NatsLink,
  type NatsLinkState,
} from "./nats.js";
export {
  natsConnectionOptions,
  natsSecurityFromEnv,
  natsUrlProblem,
  type NatsAuthMethod,
  type NatsSecurity,
  type NatsSecurityEnv,
} from "./nats-security.js";
export { exitOnStartupError, onShutdownSignal } from "./lifecycle.js";
export { createHttpServer, metricOnce, parseTrustProxy, registerMetricsRoute, type HttpServerOptions } from "./http.js";
export { crashPoint } from "./crash-point.js";
export {
  samplerOf,
  startTracing,
  registerTracerProvider,
  tracingSettings,
  type SamplerSetting,
  OTLP_PROTOCOLS,
  type OtlpProtocol,
  type Tracing,
  type TracingSettings,
} from "./tracing.js";
export { traceRequests, UNTRACED_ROUTES } from "./http-tracing.js";
