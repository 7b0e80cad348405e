import {
  parseStreamMode,
  StreamModeError,
  topologyNamesFromEnv,
  type StreamMode,
  type TopologyNames,
} from "@aa/event-bus";
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

/** A bad setting, said in one line that names where the value came from (option or env var). */
export class SettingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SettingError";
  }
}

/** A command-line option's value, when one was given (a bare `--mode` parses as `true`). */
type OptionValue = string | boolean | undefined;

const given = (option: OptionValue): option is string => typeof option === "string";

/**
 * The one stream-mode parser of the ops tools: `--mode` when given, else EVENT_STREAM_MODE.
 * Unset means multi (the services' default) unless `required`: `topology plan/apply` and
 * `migrate` change the server, so they make the operator say which mode.
 */
export function streamModeSetting(option: OptionValue, env: OpsEnv, required: boolean): StreamMode {
  const raw = given(option) ? option : env.EVENT_STREAM_MODE;
  if (required && (raw === undefined || raw.trim() === "")) {
    throw new SettingError("--mode is required: single or multi (or set EVENT_STREAM_MODE)");
  }
  try {
    return parseStreamMode(raw);
  } catch (error) {
    if (!(error instanceof StreamModeError)) throw error;
    throw new SettingError(
      given(option) ? `--mode must be single or multi, got ${JSON.stringify(raw)}` : error.message,
    );
  }
}

/** A setting's value and where it came from, shown beside it so a stale environment is visible. */
export interface SourcedSetting<T> {
  value: T;
  /** `--replicas`, `REPLICAS`, `default (NODE_ENV=production)`, ... */
  from: string;
}

/**
 * The one replicas parser: `--replicas` when given, else REPLICAS; unset means 3 when
 * NODE_ENV=production, else 1, so a plan run there does not propose shrinking R3 streams to R1.
 */
export function replicasSetting(option: OptionValue, env: OpsEnv): number {
  return replicasSettingWithSource(option, env).value;
}

/** `replicasSetting` with where the value came from. */
export function replicasSettingWithSource(option: OptionValue, env: OpsEnv): SourcedSetting<number> {
  const raw = given(option) ? option : text(env, "REPLICAS");
  const production = text(env, "NODE_ENV") === "production";
  if (raw === undefined)
    return production ? { value: 3, from: "default (NODE_ENV=production)" } : { value: 1, from: "default" };
  const from = given(option) ? "--replicas" : "REPLICAS";
  if (/^[0-9]+$/.test(raw) && Number(raw) > 0) return { value: Number(raw), from };
  throw new SettingError(
    `${from} must be a positive integer (1 for staging, 3 for production), got ${JSON.stringify(raw)}`,
  );
}

/**
 * Pure: why streams must not be created or changed with `replicas`, or undefined when they may.
 * A long-lived ops pod reads REPLICAS once, from the ConfigMap in force when it started (perhaps
 * the release before), so in the `production` namespace (POD_NAMESPACE, set by the aa-ops pod from
 * the downward API; NODE_ENV cannot tell: staging's images say production too) fewer than 3
 * replicas count only when the operator typed them: `--replicas`.
 */
export function productionReplicasRefusal(replicas: SourcedSetting<number>, env: OpsEnv): string | undefined {
  if (text(env, "POD_NAMESPACE") !== "production" || replicas.value >= 3 || replicas.from === "--replicas")
    return undefined;
  return (
    `namespace production but ${replicas.from}=${replicas.value}: production streams are R3, and settings ` +
    "read when this pod started may be stale (event-bus-config of the release before). Pass --replicas 3, " +
    `or --replicas ${replicas.value} to mean it`
  );
}

/** Where the NATS URL came from: `--nats-url`, `NATS_URL` or the default. */
export function natsUrlSource(option: OptionValue, env: OpsEnv): string {
  if (given(option) && option.trim() !== "") return "--nats-url";
  return text(env, "NATS_URL") !== undefined ? "NATS_URL" : "default";
}

/** A setting's value, or `fallback` with its problem added to the list (to report all at once). */
function collect<T>(parse: () => T, fallback: T, problems: string[]): T {
  try {
    return parse();
  } catch (error) {
    if (!(error instanceof SettingError)) throw error;
    problems.push(error.message);
    return fallback;
  }
}

function parseCommon(env: OpsEnv, problems: string[]): CommonSettings {
  return {
    natsUrl: text(env, "NATS_URL") ?? DEFAULT_NATS_URL,
    dryRun: parseDryRun(text(env, "DRY_RUN"), problems),
    mode: collect(() => streamModeSetting(undefined, env, false), "multi", problems),
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
  const replicas = collect(() => replicasSetting(undefined, env), 1, problems);
  return done({ ...common, environment, replicas }, problems);
}

/** Settings of create-consumers; throws one ConfigError listing every problem. */
export function consumerSettingsFromEnv(env: OpsEnv): Readonly<ConsumerSettings> {
  const problems: string[] = [];
  const common = parseCommon(env, problems);
  return done({ ...common, streamName: text(env, "STREAM_NAME") }, problems);
}
