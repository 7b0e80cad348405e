import { Type, type Static } from "@sinclair/typebox";
import { insecureUrlProblem, type OuraClientCredentials, type OuraHttp } from "@aa/oura";
import { ConfigError } from "@aa/service-kit";

/** Everything the Oura consumer, the linking routes and the subscription gauge need. */
export interface OuraSettings {
  credentials: OuraClientCredentials;
  /** 32-byte AES-256-GCM key for tokens at rest. */
  encryptionKey: Buffer;
  http: OuraHttp;
  tokenUrl: string;
  authorizeUrl: string;
  redirectUri: string;
  /** OURA_LINK_TOKEN_SECRET: the HS256 key of the link tokens `/auth/oura/link` accepts. */
  linkTokenSecret: string;
  /** OURA_LINK_RETURN_URL: where the callback sends the browser for the app to confirm the link. */
  linkReturnUrl: string;
  /** `/auth/oura/link` and `/auth/oura/callback` requests per client address per window; max 0: no limit. */
  linkRateLimit: { max: number; windowMs: number };
  scope: string;
  subscriptionCheckIntervalMs: number;
}

/** Oura's env vars, spread into normalize's config schema (the config module imports this one, never back). */
export const OuraConfigSchema = Type.Object({
  /**
   * Oura OAuth app; with OURA_CLIENT_SECRET, OURA_TOKEN_ENCRYPTION_KEY and OURA_REDIRECT_URI it enables Oura
   * (all four or none).
   */
  OURA_CLIENT_ID: Type.Optional(Type.String()),
  OURA_CLIENT_SECRET: Type.Optional(Type.String()),
  /** AES-256-GCM key for tokens at rest: 32 bytes, base64 (`openssl rand -base64 32`). */
  OURA_TOKEN_ENCRYPTION_KEY: Type.Optional(Type.String()),
  /** The callback registered with Oura: this service's `/auth/oura/callback` as the browser reaches it. */
  OURA_REDIRECT_URI: Type.Optional(Type.String({ pattern: "^https?://" })),
  /**
   * HS256 key of the link tokens that authorize `/auth/oura/link` (minted by the app's backend for its
   * signed-in user, or `aa-ops oura link-token`); required when Oura is enabled.
   */
  OURA_LINK_TOKEN_SECRET: Type.Optional(Type.String({ minLength: 32 })),
  /**
   * The app's page the browser returns to after Oura's consent, with `oura_link_completion`; the app's backend
   * confirms the link for its signed-in user (`POST /auth/oura/confirm`). Required when Oura is enabled.
   */
  OURA_LINK_RETURN_URL: Type.Optional(Type.String({ pattern: "^https?://" })),
  /** Requests to `/auth/oura/link` and `/auth/oura/callback` per client address per window; 0 turns the limit off. */
  OURA_LINK_RATE_LIMIT_MAX: Type.Integer({ minimum: 0, default: 30 }),
  OURA_LINK_RATE_LIMIT_WINDOW_MS: Type.Integer({ minimum: 1_000, default: 60_000 }),
  OURA_API_BASE_URL: Type.String({ pattern: "^https?://", default: "https://api.ouraring.com" }),
  OURA_TOKEN_URL: Type.String({ pattern: "^https?://", default: "https://api.ouraring.com/oauth/token" }),
  OURA_AUTHORIZE_URL: Type.String({ pattern: "^https?://", default: "https://cloud.ouraring.com/oauth/authorize" }),
  /** Space-separated OAuth scopes requested at linking (`daily` covers sleep documents). */
  OURA_SCOPES: Type.String({ minLength: 1, default: "personal daily" }),
  /** Per Oura request, in ms; three calls (fetch, refresh, fetch) must fit in the durable's 15 s ack wait. */
  OURA_API_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 60_000, default: 4_000 }),
  /** How often the webhook subscriptions are listed for `oura_webhook_subscription_expiry_seconds`, in ms. */
  OURA_SUBSCRIPTION_CHECK_INTERVAL_MS: Type.Integer({ minimum: 1_000, default: 900_000 }),
});
export type OuraConfig = Static<typeof OuraConfigSchema>;

const REQUIRED = ["OURA_CLIENT_ID", "OURA_CLIENT_SECRET", "OURA_TOKEN_ENCRYPTION_KEY", "OURA_REDIRECT_URI"] as const;

const NO_LINK_SECRET =
  "OURA_LINK_TOKEN_SECRET is required when Oura is enabled: /auth/oura/link accepts only link tokens " +
  "the app's backend signs with it (HS256, at least 32 characters, e.g. `openssl rand -base64 32`; " +
  "see docs/security.md)";
const NO_RETURN_URL =
  "OURA_LINK_RETURN_URL is required when Oura is enabled: the app's page the browser returns to after Oura's " +
  "consent; the app's backend then confirms the link for its signed-in user with POST /auth/oura/confirm, so an " +
  "account is never linked through someone else's browser (see docs/security.md)";
const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** The key's problem, or undefined when it is 32 bytes of canonical base64. */
function keyProblem(text: string): string | undefined {
  const bytes = Buffer.from(text, "base64");
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || bytes.toString("base64") !== text) {
    return (
      "OURA_TOKEN_ENCRYPTION_KEY must be base64 (e.g. the output of `openssl rand -base64 32`); " +
      "the value given is not"
    );
  }
  if (bytes.length !== 32)
    return `OURA_TOKEN_ENCRYPTION_KEY must decode to 32 bytes (AES-256), got ${bytes.length} bytes`;
  return undefined;
}

const httpsOrLoopback = (uri: string): boolean => {
  const url = new URL(uri);
  return url.protocol === "https:" || LOOPBACK.has(url.hostname);
};

/** The browser-binding cookie is `__Host-` (Secure): a browser keeps it only over https, or on loopback. */
function redirectProblem(uri: string): string | undefined {
  const url = new URL(uri);
  if (httpsOrLoopback(uri)) return undefined;
  return (
    `OURA_REDIRECT_URI must be https (the link's browser cookie is Secure); ` +
    `plain http is accepted only for localhost, ` +
    `got host ${url.hostname}`
  );
}

/** Every problem of an enabled Oura config, each naming its variable (never a value). */
function problemsOf(config: OuraConfig): string[] {
  const missing = REQUIRED.filter((name) => config[name] === undefined);
  const problems = missing.map((name) => `${name} is required when any of ${REQUIRED.join(", ")} is set`);
  const key = config.OURA_TOKEN_ENCRYPTION_KEY;
  const bad = key === undefined ? undefined : keyProblem(key);
  if (bad) problems.push(bad);
  const redirect = config.OURA_REDIRECT_URI === undefined ? undefined : redirectProblem(config.OURA_REDIRECT_URI);
  if (redirect) problems.push(redirect);
  if (config.OURA_LINK_TOKEN_SECRET === undefined) problems.push(NO_LINK_SECRET);
  for (const name of ["OURA_TOKEN_URL", "OURA_API_BASE_URL", "OURA_AUTHORIZE_URL"] as const) {
    const problem = insecureUrlProblem(name, config[name]);
    if (problem) problems.push(problem);
  }
  if (config.OURA_LINK_RETURN_URL === undefined) problems.push(NO_RETURN_URL);
  else if (!httpsOrLoopback(config.OURA_LINK_RETURN_URL))
    problems.push(
      "OURA_LINK_RETURN_URL must be https (it carries the single-use completion code); " +
        "plain http is accepted only for localhost",
    );
  return problems;
}

/**
 * Oura settings, or undefined (Oura disabled) when none of the four required variables is
 * set. Some but not all, a malformed key, or no OURA_LINK_TOKEN_SECRET or OURA_LINK_RETURN_URL (linking could not
 * be authenticated or confirmed) is a startup error naming each problem (never the values).
 */
export function ouraSettings(config: OuraConfig): OuraSettings | undefined {
  if (REQUIRED.every((name) => config[name] === undefined)) return undefined;
  const problems = problemsOf(config);
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    credentials: { clientId: config.OURA_CLIENT_ID!, clientSecret: config.OURA_CLIENT_SECRET! },
    encryptionKey: Buffer.from(config.OURA_TOKEN_ENCRYPTION_KEY!, "base64"),
    http: { baseUrl: config.OURA_API_BASE_URL, timeoutMs: config.OURA_API_TIMEOUT_MS },
    tokenUrl: config.OURA_TOKEN_URL,
    authorizeUrl: config.OURA_AUTHORIZE_URL,
    redirectUri: config.OURA_REDIRECT_URI!,
    linkTokenSecret: config.OURA_LINK_TOKEN_SECRET!,
    linkReturnUrl: config.OURA_LINK_RETURN_URL!,
    linkRateLimit: { max: config.OURA_LINK_RATE_LIMIT_MAX, windowMs: config.OURA_LINK_RATE_LIMIT_WINDOW_MS },
    scope: config.OURA_SCOPES,
    subscriptionCheckIntervalMs: config.OURA_SUBSCRIPTION_CHECK_INTERVAL_MS,
  };
}
