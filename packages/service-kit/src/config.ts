import { Ajv, type ErrorObject } from "ajv";
import type { Static, TObject } from "@sinclair/typebox";

/** Thrown once at startup with every configuration problem in one message. */
export class ConfigError extends Error {
  readonly code = "AA_ERR_CONFIG";
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join("\n  - ")}`);
    this.name = "ConfigError";
  }
}

// Environment variables are strings: coerce to the schema's types and fill defaults.
const ajv = new Ajv({ allErrors: true, coerceTypes: true, useDefaults: true, strict: false });

// A wrong secret is often the right one with a typo: never echo it. Likewise a URL's password.
const SECRET_NAME = /(SECRET|PASSWORD|_KEY|_TOKEN|_SEED)(_PREVIOUS)?$/;
const URL_PASSWORD = /(\/\/[^/:@]*:)[^/@]*@/;

function shown(name: string, value: unknown): string {
  if (value !== undefined && SECRET_NAME.test(name)) return "(hidden)";
  return JSON.stringify(value)?.replace(URL_PASSWORD, "$1***@") ?? "undefined";
}

function describe(error: ErrorObject, env: Record<string, unknown>): string {
  const name = error.instancePath.replace(/^\//, "") || String(error.params.missingProperty ?? "");
  const allowed = error.keyword === "enum" ? ` (allowed: ${(error.params.allowedValues as unknown[]).join(", ")})` : "";
  return `${name} ${error.message ?? "is invalid"}${allowed}, got ${shown(name, env[name])}`;
}

/**
 * Loads a config object from an env-like record: schema-validated, defaults applied,
 * every problem reported at once, the result frozen. Empty strings count as unset.
 */
export function loadConfig<S extends TObject>(schema: S, env: Record<string, string | undefined>): Readonly<Static<S>> {
  const input: Record<string, unknown> = {};
  for (const key of Object.keys(schema.properties)) {
    const raw = env[key];
    if (raw !== undefined && raw.trim() !== "") input[key] = raw.trim();
  }
  const validate = ajv.compile(schema);
  if (!validate(input)) throw new ConfigError((validate.errors ?? []).map((e) => describe(e, input)));
  return Object.freeze(input as Static<S>);
}
