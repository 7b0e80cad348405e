import assert from "node:assert/strict";
import { test } from "node:test";
import { parseStreamMode, StreamModeError } from "@aa/event-bus";
import { ConfigError } from "@aa/service-kit";
import {
  consumerSettingsFromEnv,
  replicasSetting,
  SettingError,
  streamModeSetting,
  streamSettingsFromEnv,
} from "../../tools/ops/src/settings.js";
import { CliError } from "../../tools/ops/src/commands/command.js";
import { desiredTopology } from "../../tools/ops/src/commands/topology.js";

test("parseStreamMode: trimmed and case-insensitive; unset or blank is multi", () => {
  assert.equal(parseStreamMode(" Single "), "single");
  assert.equal(parseStreamMode(undefined), "multi");
  assert.equal(parseStreamMode("  "), "multi");
  assert.throws(() => parseStreamMode("multy"), StreamModeError);
});

// [case, --mode option, EVENT_STREAM_MODE, required, expected mode or error message pattern]
const MODES: readonly [string, string | boolean | undefined, string | undefined, boolean, string | RegExp][] = [
  ["--mode wins over the env", "single", "multi", false, "single"],
  ["the env when no --mode", undefined, "single", false, "single"],
  ["unset and optional: multi, as the services", undefined, undefined, false, "multi"],
  ["unset and required: says --mode is required", undefined, undefined, true, /^--mode is required: single or multi/],
  ["blank env and required: required too", undefined, " ", true, /^--mode is required/],
  ["a bad --mode names the option", "multy", undefined, false, /^--mode must be single or multi, got "multy"$/],
  ["a bad env value names the variable", undefined, "multy", true, /Invalid EVENT_STREAM_MODE="multy"/],
  ["a bare --mode flag falls back to the env", true, "single", true, "single"],
];

for (const [name, option, env, required, expected] of MODES) {
  test(`streamModeSetting: ${name}`, () => {
    const parse = () => streamModeSetting(option, { EVENT_STREAM_MODE: env }, required);
    if (typeof expected === "string") assert.equal(parse(), expected);
    else assert.throws(parse, (error: Error) => error instanceof SettingError && expected.test(error.message));
  });
}

// [case, --replicas option, env, expected replicas or error message pattern]
const REPLICAS: readonly [string, string | undefined, Record<string, string>, number | RegExp][] = [
  ["unset outside production: 1", undefined, {}, 1],
  ["unset with NODE_ENV=production: 3", undefined, { NODE_ENV: "production" }, 3],
  ["REPLICAS wins over the production default", undefined, { NODE_ENV: "production", REPLICAS: "1" }, 1],
  ["--replicas wins over REPLICAS", "5", { REPLICAS: "3" }, 5],
  ["REPLICAS is trimmed", undefined, { REPLICAS: " 3 " }, 3],
  ["REPLICAS=0 names the variable", undefined, { REPLICAS: "0" }, /^REPLICAS must be a positive integer .*got "0"$/],
  ["--replicas=three names the option", "three", {}, /^--replicas must be a positive integer .*got "three"$/],
  ["a negative count is refused", "-1", {}, /got "-1"/],
];

for (const [name, option, env, expected] of REPLICAS) {
  test(`replicasSetting: ${name}`, () => {
    const parse = () => replicasSetting(option, env);
    if (typeof expected === "number") assert.equal(parse(), expected);
    else assert.throws(parse, (error: Error) => error instanceof SettingError && expected.test(error.message));
  });
}

test("streamSettingsFromEnv: the runbook defaults (multi, R1, development, not a dry run)", () => {
  const settings = streamSettingsFromEnv({});
  assert.deepEqual(
    {
      mode: settings.mode,
      replicas: settings.replicas,
      environment: settings.environment,
      dryRun: settings.dryRun,
      natsUrl: settings.natsUrl,
    },
    { mode: "multi", replicas: 1, environment: "development", dryRun: false, natsUrl: "nats://127.0.0.1:4222" },
  );
});

test("streamSettingsFromEnv: every bad setting is reported in one ConfigError", () => {
  assert.throws(
    () => streamSettingsFromEnv({ REPLICAS: "0", EVENT_STREAM_MODE: "multy", DRY_RUN: "ture" }),
    (error: Error) =>
      error instanceof ConfigError &&
      /DRY_RUN must be one of/.test(error.message) &&
      /Invalid EVENT_STREAM_MODE="multy"/.test(error.message) &&
      /REPLICAS must be a positive integer/.test(error.message),
  );
});

test("consumerSettingsFromEnv: DRY_RUN words and STREAM_NAME, trimmed", () => {
  const settings = consumerSettingsFromEnv({ DRY_RUN: "YES", STREAM_NAME: " AA_CORE_HOT " });
  assert.equal(settings.dryRun, true);
  assert.equal(settings.streamName, "AA_CORE_HOT");
  assert.equal(consumerSettingsFromEnv({ STREAM_NAME: "" }).streamName, undefined);
});

test("desiredTopology (aa-ops topology/migrate): a bad setting is a usage error, exit code 2", () => {
  assert.throws(
    () => desiredTopology({ options: { mode: "multi", replicas: "0" }, env: {} }),
    (error: Error) => error instanceof CliError && error.exitCode === 2 && /^--replicas must be/.test(error.message),
  );
  const topology = desiredTopology({ options: {}, env: { EVENT_STREAM_MODE: "single", NODE_ENV: "production" } });
  assert.equal(topology.mode, "single");
  assert.deepEqual([...new Set(topology.streams.map((s) => s.replicas))], [3]);
});
