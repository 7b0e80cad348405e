import { readFileSync } from "node:fs";
import { createLocalJWKSet, createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from "jose";
import { jwtSource } from "@aa/contracts";
import { ConfigError } from "@aa/service-kit";
import type { Principal } from "./principal.js";
import type { JwtSettings } from "./settings.js";

export type JwtOutcome =
  | { ok: true; principal: Principal }
  /** The token is refused (401); `message` names the problem with the token. */
  | { ok: false; kind: "invalid"; message: string }
  /** The key set could not be fetched (503): `message` for the client, `detail` (the fetch error) for the log only. */
  | { ok: false; kind: "unavailable"; message: string; detail: string };

/** Claims we read beyond the registered ones. */
export interface IngestClaims extends JWTPayload {
  /** The tenant or service; defaults to `sub`. */
  tenant?: unknown;
  /** The only user ids the token may write for. This or `all_users` is required. */
  user_ids?: unknown;
  /** `true`: the token may write for every user (a trusted service). This or `user_ids` is required. */
  all_users?: unknown;
}

// Allow-listed per key kind: jose never accepts `alg: none` for jwtVerify, and pinning the
// algorithms stops an RS256 public key being used as an HS256 secret.
const HS_ALGORITHMS = ["HS256"];
const JWKS_ALGORITHMS = ["RS256", "ES256"];
const CLOCK_TOLERANCE_S = 30;

/** Verifies bearer JWTs (signature, algorithm, iss, aud, exp) and turns their claims into a Principal. */
export function createJwtVerifier(settings: JwtSettings): (token: string) => Promise<JwtOutcome> {
  const { key, algorithms } = verificationKey(settings);
  return async (token) => {
    let payload: IngestClaims;
    try {
      ({ payload } = await jwtVerify<IngestClaims>(token, key as JWTVerifyGetKey, {
        issuer: settings.issuer,
        audience: settings.audience,
        algorithms,
        requiredClaims: ["exp", "sub"],
        clockTolerance: CLOCK_TOLERANCE_S,
      }));
    } catch (error) {
      if (keySetUnavailable(error)) {
        const detail = `cannot fetch the JWT key set: ${(error as Error).message}`;
        return { ok: false, kind: "unavailable", message: "the token issuer's key set could not be fetched", detail };
      }
      return { ok: false, kind: "invalid", message: `invalid JWT: ${(error as Error).message}` };
    }
    const principal = principalOf(payload);
    if (typeof principal === "string") return { ok: false, kind: "invalid", message: `invalid JWT: ${principal}` };
    return { ok: true, principal };
  };
}

/** Tenants longer than this are refused: the reading's source (`jwt:<iss>#<tenant>`) must stay short. */
const MAX_TENANT_LENGTH = 128;

const NO_SCOPE =
  "the token must say which users it may write for: a user_ids claim (a non-empty array of user ids) " +
  "or all_users: true for a service that writes for every user; ask the token's issuer to add one";

/** The users a token may write for: a set, undefined (every user: `all_users: true`), or the problem. */
function scopeOf(payload: IngestClaims): ReadonlySet<string> | undefined | string {
  const { user_ids: userIds, all_users: allUsers } = payload;
  if (userIds !== undefined && allUsers !== undefined) return "set user_ids or all_users, not both";
  if (allUsers !== undefined) return allUsers === true ? undefined : "the all_users claim must be true when present";
  if (userIds === undefined) return NO_SCOPE;
  if (!Array.isArray(userIds) || userIds.length === 0 || !userIds.every((u) => typeof u === "string"))
    return "the user_ids claim must be a non-empty array of strings";
  return new Set(userIds as string[]);
}

/**
 * The Principal a verified token's claims make, or the problem with them. Pure: `iss` and `sub` are already checked
 * present by the verifier. The token's tenant lives under its issuer (`jwt:<iss>#<tenant>`), never in the API keys'
 * `tenant:` space: a token with `sub: garmin-bridge` is not the API key of tenant `garmin-bridge`.
 */
export function principalOf(payload: IngestClaims): Principal | string {
  const tenant = payload.tenant === undefined ? payload.sub : payload.tenant;
  if (typeof tenant !== "string" || tenant === "") return "the tenant claim must be a non-empty string";
  if (tenant.length > MAX_TENANT_LENGTH) return `the tenant (or sub) must be at most ${MAX_TENANT_LENGTH} characters`;
  const userIds = scopeOf(payload);
  if (typeof userIds === "string") return userIds;
  const issuer = String(payload.iss);
  return { kind: "jwt", id: `jwt:${issuer}#${payload.sub}`, tenant, userIds, source: jwtSource(issuer, tenant) };
}

function verificationKey(settings: JwtSettings): { key: Uint8Array | JWTVerifyGetKey; algorithms: string[] } {
  const source = settings.key;
  if (source.kind === "hs256") return { key: new TextEncoder().encode(source.secret), algorithms: HS_ALGORITHMS };
  if (source.kind === "jwks-url") return { key: createRemoteJWKSet(new URL(source.url)), algorithms: JWKS_ALGORITHMS };
  try {
    return { key: createLocalJWKSet(JSON.parse(readFileSync(source.path, "utf8"))), algorithms: JWKS_ALGORITHMS };
  } catch (error) {
    throw new ConfigError([
      `INGEST_JWT_JWKS_FILE ${source.path} is not a readable JWKS document ({"keys":[...]}): ` +
        `${(error as Error).message}`,
    ]);
  }
}

/** A remote key set that timed out or did not answer 200 is our problem, not the token's. */
function keySetUnavailable(error: unknown): boolean {
  if (error instanceof errors.JWKSTimeout) return true;
  if (!(error instanceof errors.JOSEError)) return true;
  return error.code === "ERR_JOSE_GENERIC";
}
