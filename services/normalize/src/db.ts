import pg from "pg";
import { NonRetryableError, TransientError } from "@aa/event-bus";
import { createPostgresPool, withoutPassword, type Logger, type PostgresTlsEnv } from "@aa/service-kit";

export interface PoolOptions {
  url: string;
  /** PGSSLMODE / PGSSLROOTCERT: TLS when the URL does not say. */
  tls: PostgresTlsEnv;
  schema: string;
  max: number;
  logger: Logger;
}

/** A pool whose connections use `schema`; its 'error' listener keeps a PostgreSQL restart from crashing the process. */
export function createPool(options: PoolOptions): pg.Pool {
  return createPostgresPool({
    url: options.url,
    tls: options.tls,
    schema: options.schema,
    max: options.max,
    // A PostgreSQL that stops answering must fail the batch (transient: nak and retry), not hang it.
    queryTimeoutMs: 30_000,
    statementTimeoutMs: 25_000,
    onIdleError: (error) => options.logger.warn({ err: error }, "idle PostgreSQL connection failed"),
  });
}

// What the operator can do about the usual refusals.
const CONNECT_HINTS: [RegExp, string][] = [
  [/no encryption/, "the server accepts only TLS here: set sslmode=verify-full (DATABASE_URL or PGSSLMODE)"],
  [/does not support SSL/, "the server has no TLS: enable ssl on it, or set sslmode=disable"],
];

/**
 * Connects once at startup, so a refusal (TLS, pg_hba, password) stops the process with one
 * line naming the server and the reason, never the password.
 */
export async function checkConnection(pool: pg.Pool, url: string): Promise<void> {
  try {
    await pool.query("SELECT 1");
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const hint = CONNECT_HINTS.find(([pattern]) => pattern.test(message))?.[1];
    throw new Error(`Cannot connect to PostgreSQL at ${withoutPassword(url)}: ${message}${hint ? `; ${hint}` : ""}`, {
      cause: error,
    });
  }
}

// SQLSTATE classes and codes where retrying later can succeed.
const TRANSIENT_SQLSTATE = /^(08|53|57P0[123]|57014|40001|40P01|55P03|58)/;
const TRANSIENT_NODE = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENOTFOUND|EAI_AGAIN/;
const TRANSIENT_TEXT = new RegExp(
  [
    "Connection terminated",
    "timeout exceeded when trying to connect",
    "Query read timeout",
    "Client has encountered a connection error",
    "the database system is (starting up|shutting down)",
    "terminating connection",
  ].join("|"),
  "i",
);

/** One place that knows PostgreSQL failures: transient (retry, never DLQ early) vs bad data (DLQ now). */
export function classifyDbError(error: unknown): Error {
  const e = error as { code?: string; message?: string };
  const code = typeof e.code === "string" ? e.code : "";
  const message = e.message ?? String(error);
  if (TRANSIENT_SQLSTATE.test(code) || TRANSIENT_NODE.test(code) || TRANSIENT_TEXT.test(message)) {
    return new TransientError(`database unavailable: ${message}`, { cause: error });
  }
  if (/^(22|23)/.test(code))
    return new NonRetryableError(`database rejected the row (${code}): ${message}`, { cause: error });
  return error instanceof Error ? error : new Error(message);
}

/** Resolves true when PostgreSQL answers within `timeoutMs`. */
export async function databaseAnswers(pool: pg.Pool, timeoutMs = 2_000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  const probe = pool.query("SELECT 1").then(
    () => true,
    () => false,
  );
  try {
    return await Promise.race([probe, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
