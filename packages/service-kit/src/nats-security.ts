import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import {
  credsAuthenticator,
  nkeyAuthenticator,
  tokenAuthenticator,
  usernamePasswordAuthenticator,
  type Authenticator,
  type ConnectionOptions,
  type TlsOptions,
} from "@nats-io/nats-core";
import { ConfigError } from "./config.js";

/** Env-like settings: the config passes its string values, aa-ops its environment, tests a plain object. */
export type NatsSecurityEnv = Readonly<Record<string, string | undefined>>;

export type NatsAuthMethod = "none" | "user_password" | "token" | "nkey" | "creds";

/**
 * How a process proves who it is to NATS and how it checks the server, read from NATS_* env vars.
 * Secrets (password, token, seed) live only inside `authenticator`: logging this object shows none.
 */
export interface NatsSecurity {
  method: NatsAuthMethod;
  /** What is sent and which variables it came from, safe to log and print. */
  description: string;
  /** Absent with method `none`; re-reads seed and creds files on every (re)connect, so they can be rotated. */
  authenticator?: Authenticator;
  /** Set when a NATS_TLS_* variable is set: the connection then requires TLS. */
  tls?: TlsOptions;
  /** NATS_INBOX_PREFIX: where request replies arrive, so a user's permissions can be limited to its own inboxes. */
  inboxPrefix?: string;
}

/** The variables that choose an authentication method, in the order messages name them. */
export const NATS_AUTH_VARS =
  "NATS_USER + NATS_PASSWORD, NATS_TOKEN, NATS_NKEY_SEED_FILE (or NATS_NKEY_SEED) or NATS_CREDS_FILE";

const text = (env: NatsSecurityEnv, name: string): string | undefined => {
  const value = env[name]?.trim();
  return value === undefined || value === "" ? undefined : value;
};

function readFile(name: string, path: string, problems: string[]): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch (error) {
    problems.push(`${name} cannot be read: ${(error as Error).message}`);
    return undefined;
  }
}

// A seed file written by hand or by `nk` usually ends with a newline the decoder rejects.
const seedOf = (bytes: Uint8Array): Uint8Array => new TextEncoder().encode(new TextDecoder().decode(bytes).trim());

/**
 * Signs once with a dummy nonce so a bad seed or creds file is a startup error, not a refused connect; returns the
 * user's public key.
 */
function userKeyOf(authenticator: Authenticator, source: string, problems: string[]): string | undefined {
  try {
    const { nkey } = authenticator("startup-check") as { nkey?: string };
    if (nkey?.startsWith("U")) return nkey;
    problems.push(`${source} holds no user NKey seed (a user seed starts with SU)`);
  } catch (error) {
    problems.push(`${source} holds no valid user credentials: ${(error as Error).message}`);
  }
  return undefined;
}

type Auth = Pick<NatsSecurity, "method" | "description" | "authenticator">;

function userPassword(env: NatsSecurityEnv, problems: string[]): Auth | undefined {
  const user = text(env, "NATS_USER");
  const password = text(env, "NATS_PASSWORD");
  if (user === undefined && password === undefined) return undefined;
  if (user === undefined) problems.push("NATS_PASSWORD is set but NATS_USER is not");
  if (password === undefined) problems.push("NATS_USER is set but NATS_PASSWORD is not");
  if (user === undefined || password === undefined) return undefined;
  return {
    method: "user_password",
    description: `user "${user}" (NATS_USER, NATS_PASSWORD)`,
    authenticator: usernamePasswordAuthenticator(user, password),
  };
}

function token(env: NatsSecurityEnv): Auth | undefined {
  const value = text(env, "NATS_TOKEN");
  return value === undefined
    ? undefined
    : { method: "token", description: "a token (NATS_TOKEN)", authenticator: tokenAuthenticator(value) };
}

function nkey(env: NatsSecurityEnv, problems: string[]): Auth | undefined {
  const inline = text(env, "NATS_NKEY_SEED");
  const path = text(env, "NATS_NKEY_SEED_FILE");
  if (inline !== undefined) {
    const authenticator = nkeyAuthenticator(new TextEncoder().encode(inline));
    const key = userKeyOf(authenticator, "NATS_NKEY_SEED", problems);
    return key === undefined
      ? undefined
      : { method: "nkey", description: `NKey ${key} (NATS_NKEY_SEED)`, authenticator };
  }
  if (path === undefined || readFile("NATS_NKEY_SEED_FILE", path, problems) === undefined) return undefined;
  const authenticator = nkeyAuthenticator(() => seedOf(readFileSync(path)));
  const key = userKeyOf(authenticator, `NATS_NKEY_SEED_FILE (${path})`, problems);
  return key === undefined
    ? undefined
    : { method: "nkey", description: `NKey ${key} (NATS_NKEY_SEED_FILE=${path})`, authenticator };
}

function creds(env: NatsSecurityEnv, problems: string[]): Auth | undefined {
  const path = text(env, "NATS_CREDS_FILE");
  if (path === undefined || readFile("NATS_CREDS_FILE", path, problems) === undefined) return undefined;
  const authenticator = credsAuthenticator(() => readFileSync(path));
  const key = userKeyOf(authenticator, `NATS_CREDS_FILE (${path})`, problems);
  return key === undefined
    ? undefined
    : { method: "creds", description: `user ${key} of NATS_CREDS_FILE=${path}`, authenticator };
}

/** One method at most: the server would accept only one, and which one we sent would be a guess. */
function authFromEnv(env: NatsSecurityEnv, problems: string[]): Auth {
  const chosen = [
    ["NATS_USER", "NATS_PASSWORD"],
    ["NATS_TOKEN"],
    ["NATS_NKEY_SEED"],
    ["NATS_NKEY_SEED_FILE"],
    ["NATS_CREDS_FILE"],
  ]
    .filter((names) => names.some((name) => text(env, name) !== undefined))
    .map((names) => names.filter((name) => text(env, name) !== undefined).join(" + "));
  if (chosen.length > 1) {
    problems.push(`set one NATS authentication method, not several: ${chosen.join(", ")}`);
    return { method: "none", description: "no credentials" };
  }
  return (
    userPassword(env, problems) ??
    token(env) ??
    nkey(env, problems) ??
    creds(env, problems) ?? { method: "none", description: "no credentials" }
  );
}

function pemCertificate(name: string, path: string, problems: string[]): X509Certificate | undefined {
  const pem = readFile(name, path, problems);
  if (pem === undefined) return undefined;
  try {
    return new X509Certificate(pem);
  } catch (error) {
    problems.push(`${name} (${path}) is not a PEM certificate: ${(error as Error).message}`);
    return undefined;
  }
}

function checkClientKey(certificate: X509Certificate, keyPath: string, problems: string[]): void {
  const pem = readFile("NATS_TLS_KEY_FILE", keyPath, problems);
  if (pem === undefined) return;
  try {
    if (!certificate.checkPrivateKey(createPrivateKey(pem)))
      problems.push(`NATS_TLS_KEY_FILE (${keyPath}) is not the private key of the certificate in NATS_TLS_CERT_FILE`);
  } catch (error) {
    problems.push(`NATS_TLS_KEY_FILE (${keyPath}) is not an unencrypted PEM private key: ${(error as Error).message}`);
  }
}

function tlsFromEnv(env: NatsSecurityEnv, problems: string[]): TlsOptions | undefined {
  const caFile = text(env, "NATS_TLS_CA_FILE");
  const certFile = text(env, "NATS_TLS_CERT_FILE");
  const keyFile = text(env, "NATS_TLS_KEY_FILE");
  if (caFile === undefined && certFile === undefined && keyFile === undefined) return undefined;
  if (caFile !== undefined) pemCertificate("NATS_TLS_CA_FILE", caFile, problems);
  if (certFile !== undefined && keyFile === undefined)
    problems.push("NATS_TLS_CERT_FILE is set but NATS_TLS_KEY_FILE is not: a client certificate needs its private key");
  if (keyFile !== undefined && certFile === undefined)
    problems.push("NATS_TLS_KEY_FILE is set but NATS_TLS_CERT_FILE is not");
  if (certFile !== undefined && keyFile !== undefined) {
    const certificate = pemCertificate("NATS_TLS_CERT_FILE", certFile, problems);
    if (certificate !== undefined) checkClientKey(certificate, keyFile, problems);
  }
  // The client reads the files itself on every connect, so renewed certificates are picked up.
  return { ...(caFile && { caFile }), ...(certFile && { certFile }), ...(keyFile && { keyFile }) };
}

function inboxPrefixFromEnv(env: NatsSecurityEnv, problems: string[]): string | undefined {
  const prefix = text(env, "NATS_INBOX_PREFIX");
  if (prefix !== undefined && !/^[^\s*>.]+(\.[^\s*>.]+)*$/.test(prefix)) {
    problems.push(
      "NATS_INBOX_PREFIX must be a subject prefix without wildcards or spaces (e.g. _INBOX_ingest), " +
        `got ${JSON.stringify(prefix)}`,
    );
  }
  return prefix;
}

/**
 * Reads NATS_USER/NATS_PASSWORD, NATS_TOKEN, NATS_NKEY_SEED(_FILE), NATS_CREDS_FILE,
 * NATS_TLS_CA_FILE, NATS_TLS_CERT_FILE, NATS_TLS_KEY_FILE and NATS_INBOX_PREFIX. Files are read
 * now, so a missing or malformed one is reported at startup. Throws one ConfigError naming every
 * bad variable (never quoting a secret).
 */
export function natsSecurityFromEnv(env: NatsSecurityEnv): NatsSecurity {
  const problems: string[] = [];
  const auth = authFromEnv(env, problems);
  const tls = tlsFromEnv(env, problems);
  const inboxPrefix = inboxPrefixFromEnv(env, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  const over = tls === undefined ? "" : `, TLS${tls.certFile === undefined ? "" : " with client certificate"}`;
  return {
    ...auth,
    description: `${auth.description}${over}`,
    ...(tls && { tls }),
    ...(inboxPrefix && { inboxPrefix }),
  };
}

const isTlsUrl = (server: string): boolean => /^tls:\/\//i.test(server.trim());

// nats.js ignores `user:pass@` in a server URL, and the URL is printed in logs and reports.
const hasUserInfo = (server: string): boolean => /^[a-z]+:\/\/[^/]*@/i.test(server.trim());

/** The problem of a NATS_URL (comma-separated servers) that carries credentials, or undefined. */
export function natsUrlProblem(servers: readonly string[]): string | undefined {
  if (!servers.some(hasUserInfo)) return undefined;
  return (
    "NATS_URL must not carry credentials (user:password@ or token@): the client ignores them and the URL is logged. " +
    `Set ${NATS_AUTH_VARS} instead`
  );
}

/**
 * The client options of `security`; a `tls://` server URL requires TLS even without NATS_TLS_* (then the system CAs are
 * trusted).
 */
export function natsConnectionOptions(security: NatsSecurity, servers: readonly string[]): ConnectionOptions {
  const problem = natsUrlProblem(servers);
  if (problem !== undefined) throw new ConfigError([problem]);
  const tls = security.tls ?? (servers.some(isTlsUrl) ? {} : undefined);
  return { authenticator: security.authenticator, tls, inboxPrefix: security.inboxPrefix };
}
