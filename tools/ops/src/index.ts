export { runCreateStreams, migrateCommand } from "./create-streams.js";
export { runCreateConsumers } from "./create-consumers.js";
export type { ExitCode, OpsRunOptions } from "./run.js";
export type { Writer } from "./output.js";
export { streamSettingsFromEnv, consumerSettingsFromEnv, DEFAULT_NATS_URL, type OpsEnv, type StreamSettings, type ConsumerSettings } from "./settings.js";
