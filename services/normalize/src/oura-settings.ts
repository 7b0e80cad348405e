import type { OuraClientCredentials, OuraHttp } from "@aa/oura";
import { ConfigError } from "@aa/service-kit";
import type { NormalizeConfig } from "./config.js";

/** Everything the Oura consumer, the linking routes and the subscription gauge need. */
export interface OuraSettings {
  credentials: OuraClientCredentials;
  /** 32-byte AES-256-GCM key for tokens at rest. */
  encryptionKey: Buffer;
  http: OuraHttp;
  tokenUrl: string;
  authorizeUrl: string;
  redirectUri: string;
  scope: string;
  subscriptionCheckIntervalMs: number;
}

const REQUIRED = ["OURA_CLIENT_ID", "OURA_CLIENT_SECRET", "OURA_TOKEN_ENCRYPTION_KEY", "OURA_REDIRECT_URI"] as const;

/** The key's problem, or undefined when it is 32 bytes of canonical base64. */
function keyProblem(text: string): string | undefined {
  const bytes = Buffer.from(text, "base64");
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || bytes.toString("base64") !== text) {
    return "OURA_TOKEN_ENCRYPTION_KEY must be base64 (e.g. the output of `openssl rand -base64 32`); the value given is not";
  }
  if (bytes.length !== 32) return `OURA_TOKEN_ENCRYPTION_KEY must decode to 32 bytes (AES-256), got ${bytes.length} bytes`;
  return undefined;
}

/**
 * Oura settings, or undefined (Oura disabled) when none of the four required variables is
 * set. Some but not all, or a malformed key, is a startup error naming each problem
 * (never the values).
 */
export function ouraSettings(config: NormalizeConfig): OuraSettings | undefined {
  const missing = REQUIRED.filter((name) => config[name] === undefined);
  if (missing.length === REQUIRED.length) return undefined;
  const problems = missing.map((name) => `${name} is required when any of ${REQUIRED.join(", ")} is set`);
  const key = config.OURA_TOKEN_ENCRYPTION_KEY;
  const bad = key === undefined ? undefined : keyProblem(key);
  if (bad) problems.push(bad);
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    credentials: { clientId: config.OURA_CLIENT_ID!, clientSecret: config.OURA_CLIENT_SECRET! },
    encryptionKey: Buffer.from(key!, "base64"),
    http: { baseUrl: config.OURA_API_BASE_URL, timeoutMs: config.OURA_API_TIMEOUT_MS },
    tokenUrl: config.OURA_TOKEN_URL,
    authorizeUrl: config.OURA_AUTHORIZE_URL,
    redirectUri: config.OURA_REDIRECT_URI!,
    scope: config.OURA_SCOPES,
    subscriptionCheckIntervalMs: config.OURA_SUBSCRIPTION_CHECK_INTERVAL_MS,
  };
}
