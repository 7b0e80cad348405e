import type { StreamMode, Topology } from "@aa/event-bus";
import type { DatabaseTarget } from "../database.js";
import { usageError, type CommandInput, type OptionSpec } from "./command.js";
import { streamModeSetting } from "../settings.js";
import { asUsage, desiredTopology } from "./topology.js";

export const DEFAULT_INGEST_URL = "http://127.0.0.1:4101";
export const DEFAULT_NORMALIZE_URL = "http://127.0.0.1:4102";
/** normalize-service's own default, so a check reads the database the service writes. */
export const DEFAULT_DATABASE_URL = "postgres://athlete@127.0.0.1:5432/athlete_normalize";

type Input = Pick<CommandInput, "options" | "env">;

/** A base URL from `--<option>`, else the env var, else the default; without a trailing slash. */
export function serviceUrl(input: Input, option: string, envKey: string, fallback: string): string {
  const value = input.options[option];
  return (typeof value === "string" ? value : input.env[envKey]?.trim() || fallback).replace(/\/+$/, "");
}

export const ingestUrlOf = (input: Input): string => serviceUrl(input, "ingest-url", "INGEST_URL", DEFAULT_INGEST_URL);
export const normalizeUrlOf = (input: Input): string =>
  serviceUrl(input, "normalize-url", "NORMALIZE_URL", DEFAULT_NORMALIZE_URL);
/** Where ingest serves /health and /metrics: its ADMIN_PORT listener when it has one, else --ingest-url. */
export const ingestAdminUrlOf = (input: Input): string =>
  serviceUrl(input, "ingest-admin-url", "INGEST_ADMIN_URL", ingestUrlOf(input));

export const INGEST_ADMIN_URL_OPTION: Readonly<Record<string, OptionSpec>> = {
  "ingest-admin-url": {
    type: "string",
    value: "<url>",
    help: "ingest's ADMIN_PORT base URL, for /health and /metrics (default INGEST_ADMIN_URL, else --ingest-url)",
  },
};

export const SERVICE_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  "ingest-url": {
    type: "string",
    value: "<url>",
    help: `ingest-service base URL (default INGEST_URL or ${DEFAULT_INGEST_URL})`,
  },
  "normalize-url": {
    type: "string",
    value: "<url>",
    help: `normalize-service base URL (default NORMALIZE_URL or ${DEFAULT_NORMALIZE_URL})`,
  },
  ...INGEST_ADMIN_URL_OPTION,
};

export const DATABASE_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  "database-url": {
    type: "string",
    value: "<url>",
    help: `PostgreSQL holding hrv_data (default DATABASE_URL or ${DEFAULT_DATABASE_URL})`,
  },
  "database-schema": {
    type: "string",
    value: "<schema>",
    help: "schema of hrv_data, as normalize's DATABASE_SCHEMA (default DATABASE_SCHEMA, else the URL's search_path)",
  },
};

const SCHEMA = /^[a-z_][a-z0-9_]{0,62}$/;

export function databaseTargetOf(input: Input): DatabaseTarget {
  const url = serviceUrl(input, "database-url", "DATABASE_URL", DEFAULT_DATABASE_URL);
  const option = input.options["database-schema"];
  const schema = typeof option === "string" ? option : input.env.DATABASE_SCHEMA?.trim() || undefined;
  if (schema !== undefined && !SCHEMA.test(schema))
    throw usageError(
      `--database-schema must match [a-z_][a-z0-9_]* (at most 63 characters), got ${JSON.stringify(schema)}`,
    );
  return { url, schema, tls: { PGSSLMODE: input.env.PGSSLMODE, PGSSLROOTCERT: input.env.PGSSLROOTCERT } };
}

/** `--mode`, else EVENT_STREAM_MODE, else multi: the mode the services run in with this env. */
export const modeOf = (input: Input): StreamMode =>
  asUsage(() => streamModeSetting(input.options.mode, input.env, false));

export const MODE_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  mode: {
    type: "string",
    value: "<single|multi>",
    help: "Stream mode to check against (default: $EVENT_STREAM_MODE, else multi as the services)",
  },
  replicas: {
    type: "string",
    value: "<n>",
    help: "Expected stream replicas (default: $REPLICAS, else 3 if NODE_ENV=production, else 1)",
  },
};

/** The expected topology of the checked mode, with the env's names and replicas. */
export function expectedTopology(input: Input): Topology {
  return desiredTopology({ options: { mode: modeOf(input), replicas: input.options.replicas }, env: input.env });
}
