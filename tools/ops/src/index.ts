export { runCreateStreams, migrateCommand } from "./create-streams.js";
export { runCreateConsumers } from "./create-consumers.js";
export type { ExitCode, OpsRunOptions } from "./run.js";
export type { Writer } from "./output.js";
export {
  streamSettingsFromEnv,
  consumerSettingsFromEnv,
  DEFAULT_NATS_URL,
  type OpsEnv,
  type StreamSettings,
  type ConsumerSettings,
} from "./settings.js";
export { migrate, type MigrateOptions, type MigrationReport } from "./migration/execute.js";
export { planMigration, type MigrationPlan } from "./migration/plan.js";
export { FORWARDED_FROM_HEADER, type ForwardLedger } from "./migration/forward.js";
export { legacyMsgId, toLegacyEnvelope, type LegacyCopy } from "./migration/legacy-envelope.js";
export type { DlqEntry } from "./dlq/entry.js";
export { dlqSubjectFits, refusalOf, replayableSubjects } from "./dlq/replay-rule.js";
export {
  checkHealth,
  healthFailureMessage,
  healthVerdict,
  type HealthAnswer,
  type HealthTarget,
  type HealthVerdict,
} from "./migration/preflight.js";
