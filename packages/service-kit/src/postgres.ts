import { readFileSync } from "node:fs";
import type { ConnectionOptions } from "node:tls";
import pg from "pg";
import { ConfigError } from "./config.js";

/**
 * libpq's `sslmode` values that node-postgres can honour (it cannot fall back between TLS and plain, as
 * `allow`/`prefer` do).
 */
const POSTGRES_SSL_MODES = ["disable", "require", "verify-ca", "verify-full"] as const;
type PostgresSslMode = (typeof POSTGRES_SSL_MODES)[number];

/** TLS settings outside the URL, under libpq's names; the URL's `sslmode` / `sslrootcert` win over them. */
export interface PostgresTlsEnv {
  PGSSLMODE?: string;
  PGSSLROOTCERT?: string;
}

/** Spread into `new pg.Pool({...})` or `new pg.Client({...})`. */
export interface PostgresConnectionConfig {
  /** The URL without its TLS parameters, so pg cannot apply its own `sslmode` reading over `ssl`. */
  connectionString: string;
  ssl: false | ConnectionOptions;
}

// pg-connection-string turns each of these into an `ssl` object that replaces the one we pass.
const TLS_PARAMETERS = ["sslmode", "sslrootcert", "sslcert", "sslkey"] as const;
const UNSUPPORTED_PARAMETERS = ["ssl", "uselibpqcompat", "sslnegotiation"] as const;

/** The URL with its password replaced by `***`, for messages; anything that is not a URL is shown as `(not a URL)`. */
export function withoutPassword(databaseUrl: string): string {
  try {
    const url = new URL(databaseUrl);
    if (url.password !== "") url.password = "***";
    return url.toString();
  } catch {
    return "(not a URL)";
  }
}

function readPem(parameter: string, path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError([`${parameter} cannot be read from ${JSON.stringify(path)}: ${(error as Error).message}`]);
  }
}

/**
 * libpq's meaning of each mode (https://www.postgresql.org/docs/current/libpq-ssl.html), not pg 8's (which treats
 * require as verify-full).
 */
function tlsOptions(mode: PostgresSslMode, ca: string | undefined): false | ConnectionOptions {
  switch (mode) {
    case "disable":
      return false;
    case "require":
      // As libpq: encrypted; with a root certificate the chain is checked too (verify-ca).
      return ca === undefined ? { rejectUnauthorized: false } : { ca, checkServerIdentity: () => undefined };
    case "verify-ca":
      if (ca === undefined)
        throw new ConfigError([
          "sslmode verify-ca needs a root certificate: set sslrootcert in DATABASE_URL or PGSSLROOTCERT",
        ]);
      return { ca, checkServerIdentity: () => undefined };
    case "verify-full":
      // Without a root certificate: Node's trusted CAs (and NODE_EXTRA_CA_CERTS).
      return ca === undefined ? {} : { ca };
  }
}

const isSslMode = (value: string): value is PostgresSslMode =>
  (POSTGRES_SSL_MODES as readonly string[]).includes(value);

/**
 * The pg connection settings for `databaseUrl`, with TLS as libpq reads it: `sslmode` and
 * `sslrootcert` from the URL, else `PGSSLMODE` / `PGSSLROOTCERT`; no mode means `disable`.
 * `sslcert` / `sslkey` in the URL give a client certificate. Throws ConfigError (never
 * quoting the URL, which may hold a password) for a mode pg cannot honour or an unreadable file.
 */
export function postgresConnectionConfig(databaseUrl: string, env: PostgresTlsEnv): PostgresConnectionConfig {
  const url = URL.canParse(databaseUrl) ? new URL(databaseUrl) : undefined;
  if (url?.protocol !== "postgres:" && url?.protocol !== "postgresql:")
    throw new ConfigError(["DATABASE_URL is not a URL of the form postgres://user:password@host:port/database"]);
  const params = url.searchParams;
  const unsupported = UNSUPPORTED_PARAMETERS.filter((name) => params.has(name));
  if (unsupported.length > 0)
    throw new ConfigError([
      `DATABASE_URL: ${unsupported.join(", ")} is not supported; use sslmode (${POSTGRES_SSL_MODES.join(", ")})`,
    ]);
  // Empty counts as unset, as everywhere in our configuration.
  const mode = params.get("sslmode") || env.PGSSLMODE?.trim() || "disable";
  if (!isSslMode(mode))
    throw new ConfigError([
      `sslmode (DATABASE_URL or PGSSLMODE) must be one of ${POSTGRES_SSL_MODES.join(", ")}, ` +
        `got ${JSON.stringify(mode)}`,
    ]);
  const rootCertPath = params.get("sslrootcert") || env.PGSSLROOTCERT?.trim() || undefined;
  const ssl = tlsOptions(mode, rootCertPath === undefined ? undefined : readPem("sslrootcert", rootCertPath));
  if (ssl !== false) Object.assign(ssl, clientCertificate(params));
  for (const name of TLS_PARAMETERS) params.delete(name);
  return { connectionString: url.toString(), ssl };
}

/** `sslcert` + `sslkey` from the URL: a client certificate, both or neither. */
function clientCertificate(params: URLSearchParams): Pick<ConnectionOptions, "cert" | "key"> {
  const certPath = params.get("sslcert");
  const keyPath = params.get("sslkey");
  if (certPath === null && keyPath === null) return {};
  if (certPath === null || keyPath === null) throw new ConfigError(["DATABASE_URL: sslcert and sslkey go together"]);
  return { cert: readPem("sslcert", certPath), key: readPem("sslkey", keyPath) };
}

export interface PostgresPoolOptions {
  url: string;
  /** PGSSLMODE / PGSSLROOTCERT: TLS when the URL does not say. */
  tls: PostgresTlsEnv;
  /** `application_name` of its connections (pg_stat_activity shows who holds them); undefined: pg's default. */
  applicationName?: string;
  /** Put on every connection's search_path; undefined: the role's default. */
  schema?: string;
  max: number;
  /**
   * Client-side limit per query, in ms: a PostgreSQL that stops answering without closing the socket fails the query
   * instead of hanging it until TCP gives up.
   */
  queryTimeoutMs?: number;
  /** Server-side limit per statement, in ms. */
  statementTimeoutMs?: number;
  /** Told about an idle connection that failed; listening keeps a PostgreSQL restart from crashing the process. */
  onIdleError: (error: Error) => void;
}

/**
 * The one way this project opens a pool: TLS as libpq reads it, a 5 s connect timeout, the schema on the search_path.
 */
export function createPostgresPool(options: PostgresPoolOptions): pg.Pool {
  const pool = new pg.Pool({
    ...postgresConnectionConfig(options.url, options.tls),
    max: options.max,
    connectionTimeoutMillis: 5_000,
    ...(options.queryTimeoutMs === undefined ? {} : { query_timeout: options.queryTimeoutMs }),
    ...(options.statementTimeoutMs === undefined ? {} : { statement_timeout: options.statementTimeoutMs }),
    ...(options.schema === undefined ? {} : { options: `-c search_path=${options.schema}` }),
    ...(options.applicationName === undefined ? {} : { application_name: options.applicationName }),
  });
  pool.on("error", options.onIdleError);
  return pool;
}
