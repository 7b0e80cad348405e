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

/** An env-like record: the entry points pass their environment, tests a plain object. */
export type Env = Readonly<Record<string, string | undefined>>;

/**
 * Decides settings from the schema-checked values (credentials, stream mode, ...), adding each
 * problem to `problems` instead of throwing, so they are reported with the schema's. Runs even when
 * the schema found problems: it must read only string settings, which need no coercion.
 */
export type Derive<C, D> = (config: C, problems: string[]) => D;

/**
 * Loads a config object from an env-like record: schema-validated, defaults applied, then the
 * settings `derive` decides added; every problem of both reported at once in one ConfigError, the
 * result frozen. Empty strings count as unset.
 */
export function loadConfig<S extends TObject, D extends object = object>(
  schema: S,
  env: Env,
  derive?: Derive<Static<S>, D>,
): Readonly<Static<S> & D> {
  const input: Record<string, unknown> = {};
  for (const key of Object.keys(schema.properties)) {
    const raw = env[key];
    if (raw !== undefined && raw.trim() !== "") input[key] = raw.trim();
  }
  const validate = ajv.compile(schema);
  const problems = validate(input) ? [] : (validate.errors ?? []).map((e) => describe(e, input));
  const derived = derive?.(input as Static<S>, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze({ ...input, ...derived } as Static<S> & D);
}

/**
 * Runs one parser of a derive step that throws ConfigError, adding its problems to `problems`.
 * On a problem the value is undefined, which nobody sees: loadConfig then throws.
 */
export function collect<T>(problems: string[], parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems);
    return undefined as T;
  }
}
