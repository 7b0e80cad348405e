// @aa/ops: the library under the aa-ops CLI and the runbook's scripts. Typed inputs and results; no process.env,
// argv or printing past the `Writer` a caller hands in. Grouped by area, as docs/ops-cli.md describes them.

// Shared: settings, errors, checks, connections.
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
export { OpsError, OpsRefusal } from "./errors.js";
export { checksPassed, countChecks, type Check, type CheckStatus } from "./checks.js";
export { describeDatabase, openDatabase, type DatabaseTarget } from "./database.js";

// Topology: the runbook's create-streams / create-consumers, what the server holds, the mode it is in.
export { runCreateStreams, migrateCommand } from "./create-streams.js";
export { runCreateConsumers } from "./create-consumers.js";
export {
  consumerInfo,
  listConsumers,
  listStreams,
  storedMessage,
  streamInfo,
  type StoredMessageJson,
} from "./inspect.js";
export { readStatus, deriveMode, type DerivedMode, type DurableStatus, type ServerStatus } from "./topology/status.js";

// The stream handoff between the single and the multi topology.
export { migrate, type MigrateOptions, type MigrationReport } from "./migration/execute.js";
export { planMigration, type MigrationPlan } from "./migration/plan.js";
export { FORWARDED_FROM_HEADER, type ForwardLedger } from "./migration/forward.js";
export { legacyMsgId, toLegacyEnvelope, type LegacyCopy } from "./migration/legacy-envelope.js";
export {
  checkHealth,
  healthFailureMessage,
  healthVerdict,
  type HealthAnswer,
  type HealthTarget,
  type HealthVerdict,
} from "./migration/preflight.js";

// Verification and the soak.
export { newProbe, type Probe, type ProbeTarget } from "./verify/probe.js";
export { runVerify, type VerifyReport, type VerifyTarget } from "./verify/run.js";
export {
  evaluateSoak,
  monitoringWarnings,
  soakWindow,
  type PrometheusSource,
  type SoakTarget,
} from "./soak/evaluate.js";
export type { SoakWindow } from "./soak/criteria.js";

// The dead-letter stream.
export type { DlqEntry, DlqFilter, DlqMessage } from "./dlq/entry.js";
export { dlqSubjectFits, refusalOf, replayableSubjects } from "./dlq/replay-rule.js";
export { getDlqMessage, selectDlq, type Selection } from "./dlq/read.js";
export { listAdvisories, type AdvisoryQuery, type AdvisoryRow } from "./dlq/advisories.js";
export { replayMsgId, type ReplayOutcome, type ReplayResult } from "./dlq/replay.js";
export type { PurgeOutcome } from "./dlq/purge.js";
export { purgeDlq, replayDlq, type DlqReplayEvents, type DlqReplayRequest, type DlqReplayResult } from "./dlq/run.js";

// Users, API keys, Oura.
export { eraseUser, ouraRevocationRefusal, type EraseRequest, type Erasure } from "./erase/erase.js";
export { apiKeyView, withApiKeyTable, type ApiKeyView } from "./keys/keys.js";
export {
  createSubscriptions,
  listAppSubscriptions,
  renewSubscriptions,
  type OuraApp,
  type RenewalChoice,
  type SubscriptionRequest,
} from "./oura/subscriptions.js";
