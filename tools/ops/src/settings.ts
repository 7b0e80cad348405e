import { parseStreamMode, StreamModeError, topologyNamesFromEnv, type StreamMode, type TopologyNames } from "@aa/event-bus";
import { ConfigError } from "@aa/service-kit";

/** Env-like settings: the entry points pass `process.env`, tests pass a plain object. */
export type OpsEnv = Readonly<Record<string, string | undefined>>;

export const DEFAULT_NATS_URL = "nats://127.0.0.1:4222";

/** Settings shared by the ops scripts. */
export interface CommonSettings {
  natsUrl: string;
  dryRun: boolean;
  mode: StreamMode;
  names: TopologyNames;
}

export interface StreamSettings extends CommonSettings {
  /** NODE_ENV, shown as "Environment"; default development. */
  environment: string;
  /** REPLICAS; default 3 when NODE_ENV=production, else 1. */
  replicas: number;
}

export interface ConsumerSettings extends CommonSettings {
  /** STREAM_NAME; unset means "the stream that owns each durable's subject". */
  streamName: string | undefined;
}

const TRUE_WORDS = ["true", "1", "yes"];
const FALSE_WORDS = ["false", "0", "no"];

function text(env: OpsEnv, key: string): string | undefined {
  const value = env[key]?.trim();
  return value === undefined || value === "" ? undefined : value;
}

// A typo such as DRY_RUN=ture must not silently mean "apply for real".
function parseDryRun(raw: string | undefined, problems: string[]): boolean {
  if (raw === undefined || FALSE_WORDS.includes(raw.toLowerCase())) return false;
  if (TRUE_WORDS.includes(raw.toLowerCase())) return true;
  problems.push(`DRY_RUN must be one of true/1/yes/false/0/no, got ${JSON.stringify(raw)}`);
  return false;
}

function parseMode(raw: string | undefined, problems: string[]): StreamMode {
  try {
    return parseStreamMode(raw);
  } catch (error) {
    if (!(error instanceof StreamModeError)) throw error;
    problems.push(error.message);
    return "multi";
  }
}

function parseReplicas(raw: string | undefined, environment: string, problems: string[]): number {
  if (raw === undefined) return environment === "production" ? 3 : 1;
  if (/^[0-9]+$/.test(raw) && Number(raw) > 0) return Number(raw);
  problems.push(`REPLICAS must be a positive integer (1 for staging, 3 for production), got ${JSON.stringify(raw)}`);
  return 1;
}

function parseCommon(env: OpsEnv, problems: string[]): CommonSettings {
  return {
    natsUrl: text(env, "NATS_URL") ?? DEFAULT_NATS_URL,
    dryRun: parseDryRun(text(env, "DRY_RUN"), problems),
    mode: parseMode(env.EVENT_STREAM_MODE, problems),
    names: topologyNamesFromEnv(env),
  };
}

function done<T extends object>(settings: T, problems: string[]): Readonly<T> {
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(settings);
}

/** Settings of create-streams; throws one ConfigError listing every problem. */
export function streamSettingsFromEnv(env: OpsEnv): Readonly<StreamSettings> {
  const problems: string[] = [];
  const environment = text(env, "NODE_ENV") ?? "development";
  const common = parseCommon(env, problems);
  return done({ ...common, environment, replicas: parseReplicas(text(env, "REPLICAS"), environment, problems) }, problems);
}

/** Settings of create-consumers; throws one ConfigError listing every problem. */
export function consumerSettingsFromEnv(env: OpsEnv): Readonly<ConsumerSettings> {
  const problems: string[] = [];
  const common = parseCommon(env, problems);
  return done({ ...common, streamName: text(env, "STREAM_NAME") }, problems);
}
