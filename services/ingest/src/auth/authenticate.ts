import type { FastifyRequest } from "fastify";
import { API_KEY_PREFIX, parseApiKey, secretMatches, stateOf } from "@aa/api-keys";
import { tenantSource } from "@aa/contracts";
import { addressKey } from "../limits/client-address.js";
import { retryAfterSeconds, type WindowLimiter } from "../limits/window-limiter.js";
import type { ApiKeyCache, KeyLookup } from "./api-key-cache.js";
import type { JwtOutcome } from "./jwt.js";
import type { Principal } from "./principal.js";
import type { AuthMethod } from "./settings.js";

export type AuthOutcome =
  | { ok: true; principal: Principal }
  | { ok: false; status: 401; error: string; field: string; message: string }
  /**
   * Credentials could not be checked: `error` and `message` are generic and stable (clients see them, so no database
   * or fetch error text); `detail` says what failed, for the log only.
   */
  | { ok: false; status: 503; error: string; field: string; message: string; detail: string | undefined }
  /** The client's address used up its failed authentications and this credential would need a database lookup. */
  | { ok: false; status: 429; error: string; field: string; message: string; retryAfterSeconds: number };

export interface Authenticators {
  methods: ReadonlySet<AuthMethod>;
  apiKeys: ApiKeyCache | undefined;
  verifyJwt: ((token: string) => Promise<JwtOutcome>) | undefined;
  now: () => Date;
  /** Failed authentications per client address (AUTH_FAILURES_MAX); undefined: not limited. */
  failures: WindowLimiter | undefined;
}

const CREATE_KEY =
  "npx aa-ops keys create --name <name> --tenant <tenant> --users <id>,<id> (or --all-users) " +
  "(DATABASE_URL pointing at normalize's database)";

/** How to authenticate, for every 401: what to send and how to get it. */
export function howToAuthenticate(methods: ReadonlySet<AuthMethod>): string {
  const ways: string[] = [];
  if (methods.has("api-key"))
    ways.push(
      `an API key as 'Authorization: Bearer ${API_KEY_PREFIX}…' or ` +
        `'X-API-Key: ${API_KEY_PREFIX}…' (create one with: ${CREATE_KEY})`,
    );
  if (methods.has("jwt")) ways.push("a JWT from the configured issuer as 'Authorization: Bearer <jwt>'");
  return `Send ${ways.join(", or ")}.`;
}

type Credential =
  | { kind: "api-key"; token: string; field: string }
  | { kind: "jwt"; token: string; field: string }
  | { kind: "missing" }
  | { kind: "malformed"; field: string; message: string };

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * What a non-Bearer `Authorization` header holds, without quoting the credential: a value with
 * no scheme (`aak_…`, a bare JWT) is the credential itself, and an unknown word is not echoed either.
 */
function schemeOf(authorization: string): string {
  const [scheme, ...rest] = authorization.split(/\s+/);
  if (rest.length === 0) {
    const hint = authorization.startsWith(API_KEY_PREFIX) ? " (an API key: put 'Bearer ' before it)" : "";
    return `got a value without a scheme${hint}`;
  }
  return KNOWN_SCHEMES.has(String(scheme).toLowerCase()) ? `got '${scheme}'` : "got another scheme";
}

// Standard scheme names are safe to name back; anything else may be a secret sent in the wrong place.
const KNOWN_SCHEMES = new Set(["basic", "digest", "negotiate", "ntlm", "token", "apikey", "hoba", "mutual"]);

/** The one credential a request carries, from `X-API-Key` or `Authorization: Bearer`. */
function credentialOf(request: FastifyRequest): Credential {
  const apiKeyHeader = first(request.headers["x-api-key"])?.trim();
  const authorization = first(request.headers.authorization)?.trim();
  if (apiKeyHeader && authorization)
    return { kind: "malformed", field: "Authorization", message: "send either X-API-Key or Authorization, not both" };
  if (apiKeyHeader) return { kind: "api-key", token: apiKeyHeader, field: "X-API-Key" };
  if (!authorization) return { kind: "missing" };
  const bearer = /^Bearer\s+(\S+)$/i.exec(authorization);
  if (!bearer)
    return {
      kind: "malformed",
      field: "Authorization",
      message: `use the Bearer scheme ('Authorization: Bearer <credential>'), ${schemeOf(authorization)}`,
    };
  const token = bearer[1] as string;
  return token.startsWith(API_KEY_PREFIX)
    ? { kind: "api-key", token, field: "Authorization" }
    : { kind: "jwt", token, field: "Authorization" };
}

type Refuse = (field: string, message: string) => AuthOutcome;

/**
 * The failed authentications of one client address, as one request sees them. A key lookup in
 * PostgreSQL is admitted only while the address has failures to spare, and is counted as a failure
 * before it runs (a burst of lookups cannot all pass before the first one fails); a lookup that
 * finds a good key is given back. Answers from memory are never refused here: they cost nothing,
 * and a client sharing an address (NAT, a proxy without TRUST_PROXY) keeps working.
 */
class FailureAccount {
  private charged = false;

  constructor(
    private readonly limiter: WindowLimiter | undefined,
    private readonly address: string,
  ) {}

  /** undefined: the lookup may run (and is charged); else the ms until the address may try again. */
  admitLookup(): number | undefined {
    if (!this.limiter) return undefined;
    const wait = this.limiter.exhausted(this.address);
    if (wait !== undefined) return wait;
    this.limiter.charge(this.address);
    this.charged = true;
    return undefined;
  }

  settle(outcome: AuthOutcome): void {
    if (!this.limiter) return;
    if (outcome.ok && this.charged) this.limiter.refund(this.address);
    else if (!outcome.ok && outcome.status === 401 && !this.charged) this.limiter.charge(this.address);
  }
}

/** Establishes who sent `request`; never throws for a bad credential. */
export async function authenticate(request: FastifyRequest, auth: Authenticators): Promise<AuthOutcome> {
  const credential = credentialOf(request);
  if (credential.kind === "missing")
    return {
      ok: false,
      status: 401,
      error: `Authentication required. ${howToAuthenticate(auth.methods)}`,
      field: "Authorization",
      message: "no credentials sent",
    };
  const account = new FailureAccount(auth.failures, addressKey(request.ip));
  const outcome = await verify(credential, auth, account);
  account.settle(outcome);
  return outcome;
}

type Presented = Exclude<Credential, { kind: "missing" }>;

async function verify(credential: Presented, auth: Authenticators, account: FailureAccount): Promise<AuthOutcome> {
  const refuse: Refuse = (field, message) => {
    const error = `Authentication failed: ${message}. ${howToAuthenticate(auth.methods)}`;
    return { ok: false, status: 401, error, field, message };
  };
  if (credential.kind === "malformed") return refuse(credential.field, credential.message);
  if (credential.kind === "api-key") {
    if (!auth.methods.has("api-key") || !auth.apiKeys)
      return refuse(credential.field, "API keys are not accepted here (INGEST_AUTH_MODE does not include api-key)");
    return apiKeyOutcome(credential.token, credential.field, { keys: auth.apiKeys, account, now: auth.now(), refuse });
  }
  if (!auth.methods.has("jwt") || !auth.verifyJwt)
    return refuse(
      credential.field,
      credential.token.includes(".")
        ? "JWTs are not accepted here (INGEST_AUTH_MODE does not include jwt)"
        : `not an API key (they start with ${API_KEY_PREFIX})`,
    );
  const outcome = await auth.verifyJwt(credential.token);
  if (outcome.ok) return outcome;
  if (outcome.kind === "unavailable") return unavailable(credential.field, outcome.message, outcome.detail);
  return refuse(credential.field, outcome.message);
}

/** 503: `reason` is public (fixed words), `detail` goes to the log. */
function unavailable(field: string, reason: string, detail: string | undefined): AuthOutcome {
  const error = `Cannot verify credentials right now: ${reason}. Retry later.`;
  return { ok: false, status: 503, error, field, message: reason, detail };
}

interface KeyCheck {
  keys: ApiKeyCache;
  account: FailureAccount;
  now: Date;
  refuse: Refuse;
}

/** From memory when it knows the key id; else from PostgreSQL, if the client's address may cause a lookup. */
async function findKey(keyId: string, field: string, { keys, account }: KeyCheck): Promise<KeyLookup | AuthOutcome> {
  const known = keys.cached(keyId);
  if (known) return known;
  // Before the first load every request waits for the same single reload: not a lookup of its own.
  if (!keys.ready) return keys.lookup(keyId);
  const waitMs = account.admitLookup();
  if (waitMs === undefined) return keys.lookup(keyId);
  const seconds = retryAfterSeconds(waitMs);
  const message = `too many failed authentications from this address; retry in ${seconds} s`;
  const error =
    `Too many failed authentications from this address: new API keys are looked up again in ${seconds} s ` +
    `(keys ingest already holds keep working)`;
  return { ok: false, status: 429, error, field, message, retryAfterSeconds: seconds };
}

async function apiKeyOutcome(token: string, field: string, check: KeyCheck): Promise<AuthOutcome> {
  const { now, refuse } = check;
  const parsed = parseApiKey(token);
  if (!parsed) return refuse(field, `malformed API key (expected ${API_KEY_PREFIX}<16 hex>_<43 base64url characters>)`);
  const lookup = await findKey(parsed.keyId, field, check);
  if ("ok" in lookup) return lookup;
  if ("unavailable" in lookup) return unavailable(field, lookup.unavailable, lookup.detail);
  const key = lookup.found;
  // Unknown id and wrong secret read the same: the answer must not help guess keys.
  if (!key || !secretMatches(parsed.secret, key.secretSha256)) return refuse(field, "unknown API key");
  const state = stateOf(key, now);
  if (state === "revoked") return refuse(field, `API key ${key.keyId} was revoked at ${key.revokedAt?.toISOString()}`);
  if (state === "expired") return refuse(field, `API key ${key.keyId} expired at ${key.expiresAt?.toISOString()}`);
  return {
    ok: true,
    principal: {
      kind: "api-key",
      id: `key:${key.keyId}`,
      tenant: key.tenant,
      userIds: key.userIds === undefined ? undefined : new Set(key.userIds),
      source: tenantSource(key.tenant),
    },
  };
}
