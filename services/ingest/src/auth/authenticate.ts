import type { FastifyRequest } from "fastify";
import { API_KEY_PREFIX, parseApiKey, secretMatches, stateOf } from "@aa/api-keys";
import type { ApiKeyCache } from "./api-key-cache.js";
import type { JwtOutcome } from "./jwt.js";
import type { Principal } from "./principal.js";
import type { AuthMethod } from "./settings.js";

export type AuthOutcome =
  | { ok: true; principal: Principal }
  | { ok: false; status: 401 | 503; error: string; field: string; message: string };

export interface Authenticators {
  methods: ReadonlySet<AuthMethod>;
  apiKeys: ApiKeyCache | undefined;
  verifyJwt: ((token: string) => Promise<JwtOutcome>) | undefined;
  now: () => Date;
}

const CREATE_KEY = "npx aa-ops keys create --name <name> --tenant <tenant> --users <id>,<id> (or --all-users) (DATABASE_URL pointing at normalize's database)";

/** How to authenticate, for every 401: what to send and how to get it. */
export function howToAuthenticate(methods: ReadonlySet<AuthMethod>): string {
  const ways: string[] = [];
  if (methods.has("api-key")) ways.push(`an API key as 'Authorization: Bearer ${API_KEY_PREFIX}…' or 'X-API-Key: ${API_KEY_PREFIX}…' (create one with: ${CREATE_KEY})`);
  if (methods.has("jwt")) ways.push("a JWT from the configured issuer as 'Authorization: Bearer <jwt>'");
  return `Send ${ways.join(", or ")}.`;
}

type Credential = { kind: "api-key"; token: string; field: string } | { kind: "jwt"; token: string; field: string } | { kind: "missing" } | { kind: "malformed"; field: string; message: string };

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The one credential a request carries, from `X-API-Key` or `Authorization: Bearer`. */
function credentialOf(request: FastifyRequest): Credential {
  const apiKeyHeader = first(request.headers["x-api-key"])?.trim();
  const authorization = first(request.headers.authorization)?.trim();
  if (apiKeyHeader && authorization) return { kind: "malformed", field: "Authorization", message: "send either X-API-Key or Authorization, not both" };
  if (apiKeyHeader) return { kind: "api-key", token: apiKeyHeader, field: "X-API-Key" };
  if (!authorization) return { kind: "missing" };
  const bearer = /^Bearer\s+(\S+)$/i.exec(authorization);
  if (!bearer) return { kind: "malformed", field: "Authorization", message: `use the Bearer scheme ('Authorization: Bearer <credential>'), got '${authorization.split(/\s/)[0]}'` };
  const token = bearer[1] as string;
  return token.startsWith(API_KEY_PREFIX) ? { kind: "api-key", token, field: "Authorization" } : { kind: "jwt", token, field: "Authorization" };
}

/** Establishes who sent `request`; never throws for a bad credential. */
export async function authenticate(request: FastifyRequest, auth: Authenticators): Promise<AuthOutcome> {
  const refuse = (field: string, message: string): AuthOutcome => ({ ok: false, status: 401, error: `Authentication failed: ${message}. ${howToAuthenticate(auth.methods)}`, field, message });
  const credential = credentialOf(request);
  if (credential.kind === "missing") return { ok: false, status: 401, error: `Authentication required. ${howToAuthenticate(auth.methods)}`, field: "Authorization", message: "no credentials sent" };
  if (credential.kind === "malformed") return refuse(credential.field, credential.message);
  if (credential.kind === "api-key") {
    if (!auth.methods.has("api-key") || !auth.apiKeys) return refuse(credential.field, "API keys are not accepted here (INGEST_AUTH_MODE does not include api-key)");
    return apiKeyOutcome(credential.token, credential.field, auth.apiKeys, auth.now(), refuse);
  }
  if (!auth.methods.has("jwt") || !auth.verifyJwt) return refuse(credential.field, credential.token.includes(".") ? "JWTs are not accepted here (INGEST_AUTH_MODE does not include jwt)" : `not an API key (they start with ${API_KEY_PREFIX})`);
  const outcome = await auth.verifyJwt(credential.token);
  if (outcome.ok) return outcome;
  if (outcome.kind === "unavailable") return { ok: false, status: 503, error: `Cannot verify credentials right now: ${outcome.message}. Retry later.`, field: credential.field, message: outcome.message };
  return refuse(credential.field, outcome.message);
}

async function apiKeyOutcome(token: string, field: string, keys: ApiKeyCache, now: Date, refuse: (field: string, message: string) => AuthOutcome): Promise<AuthOutcome> {
  const parsed = parseApiKey(token);
  if (!parsed) return refuse(field, `malformed API key (expected ${API_KEY_PREFIX}<16 hex>_<43 base64url characters>)`);
  const lookup = await keys.lookup(parsed.keyId);
  if ("unavailable" in lookup) return { ok: false, status: 503, error: `Cannot verify the API key right now: ${lookup.unavailable}. Retry later.`, field, message: lookup.unavailable };
  const key = lookup.found;
  // Unknown id and wrong secret read the same: the answer must not help guess keys.
  if (!key || !secretMatches(parsed.secret, key.secretSha256)) return refuse(field, "unknown API key");
  const state = stateOf(key, now);
  if (state === "revoked") return refuse(field, `API key ${key.keyId} was revoked at ${key.revokedAt?.toISOString()}`);
  if (state === "expired") return refuse(field, `API key ${key.keyId} expired at ${key.expiresAt?.toISOString()}`);
  return { ok: true, principal: { kind: "api-key", id: `key:${key.keyId}`, tenant: key.tenant, userIds: key.userIds === undefined ? undefined : new Set(key.userIds) } };
}
