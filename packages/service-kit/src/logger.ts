import { createHmac, randomBytes } from "node:crypto";
import { context, isSpanContextValid, trace } from "@opentelemetry/api";
import { pino, type DestinationStream, type Logger } from "pino";
import pretty from "pino-pretty";

export type { Logger };

export interface LoggerOptions {
  service: string;
  /** pino level; default `info`. */
  level?: string;
  /** `json` (default, for log shippers) or `pretty` (one readable line per record). */
  format?: "json" | "pretty";
  /**
   * Key of the HMAC that replaces user ids in log records (`LOG_HASH_KEY`). Unset: a random key
   * of this process, so the same user is recognisable within one process's logs only.
   */
  userIdHashKey?: string;
  /** Where JSON records go (default stdout); tests capture them here. */
  destination?: DestinationStream;
}

// Credentials by field name, at the top of a record and one level down (`{ config: { password } }`).
const SECRET_FIELDS = [
  "password",
  "secret",
  "token",
  "apiKey",
  "api_key",
  "authorization",
  "cookie",
  "accessToken",
  "access_token",
  "refreshToken",
  "refresh_token",
  "idToken",
  "id_token",
  "clientSecret",
  "client_secret",
  "codeVerifier",
  "code_verifier",
  "connectionString",
  "databaseUrl",
];
const SECRET_HEADERS = ["authorization", "cookie", "set-cookie", "x-api-key", "x-oura-signature", "x-client-secret"];

/** pino redact paths: what a log record must never carry, whoever logs it. */
const REDACTED_PATHS: readonly string[] = [
  ...SECRET_FIELDS.flatMap((field) => [field, `*.${field}`]),
  ...SECRET_HEADERS.flatMap((header) => [`headers["${header}"]`, `*.headers["${header}"]`]),
  // OAuth callback parameters: the code and state are bearer secrets until used.
  "query.code",
  "query.state",
  "body.code",
  // PostgreSQL errors echo row and parameter values here ("Failing row contains (…)", "Key (user_id)=(…)").
  "err.detail",
  "err.where",
  "err.internalQuery",
  "err.aggregateErrors[*].detail",
  "err.aggregateErrors[*].where",
  // Node's ERR_INVALID_URL keeps the whole URL, password included.
  "err.input",
];

/** Length of the logged user id hash, in hex characters (64 bits: unique enough to follow one user). */
const USER_ID_HASH_HEX = 16;

/**
 * HMAC-SHA256 of a user id under `key`, shortened: the same user gives the same value in every
 * record of every process sharing the key, and without the key it cannot be recomputed from a
 * guessed id. `printf %s "$id" | openssl dgst -sha256 -hmac "$LOG_HASH_KEY"` gives its first characters.
 */
export function userIdHasher(key: string | Buffer): (userId: string) => string {
  return (userId) => createHmac("sha256", key).update(userId, "utf8").digest("hex").slice(0, USER_ID_HASH_HEX);
}

/**
 * Serializers by field name: user ids become their keyed hash; a request is its method and path (a query string can
 * hold an OAuth code).
 */
function serializers(hash: (userId: string) => string) {
  const hashed = (value: unknown): unknown =>
    typeof value === "string" ? hash(value) : Array.isArray(value) ? value.map(hashed) : value;
  return {
    userId: hashed,
    user_id: hashed,
    userIds: hashed,
    ouraUserId: hashed,
    req: (req: { method?: string; url?: string }) => ({ method: req.method, url: req.url?.split("?")[0] }),
  };
}

/**
 * `trace_id` and `span_id` of the span active where a line is logged (a request's, a message's),
 * so one event can be followed across both services' logs; nothing outside a span or with tracing off.
 */
function activeTraceIds(): { trace_id?: string; span_id?: string } {
  const span = trace.getSpanContext(context.active());
  // A new object each time: pino merges the record's own fields into what the mixin returns.
  return span && isSpanContextValid(span) ? { trace_id: span.traceId, span_id: span.spanId } : {};
}

/** One logger per process; libraries receive it (or a child) as an argument. */
export function createLogger(options: LoggerOptions): Logger {
  const hash = userIdHasher(options.userIdHashKey ?? randomBytes(32));
  const base = {
    level: options.level ?? "info",
    base: { service: options.service },
    redact: { paths: [...REDACTED_PATHS] },
    serializers: serializers(hash),
    mixin: activeTraceIds,
  };
  if (options.format === "pretty") {
    return pino(
      base,
      pretty({ sync: true, colorize: false, ignore: "pid,hostname,service", translateTime: "SYS:HH:MM:ss.l" }),
    );
  }
  return options.destination ? pino(base, options.destination) : pino(base);
}
