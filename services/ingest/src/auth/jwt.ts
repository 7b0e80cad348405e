import { readFileSync } from "node:fs";
import { createLocalJWKSet, createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from "jose";
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
interface IngestClaims extends JWTPayload {
  /** The tenant or service; defaults to `sub`. */
  tenant?: unknown;
  /** The only user ids the token may write for; absent: any user. */
  user_ids?: unknown;
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
    const tenant = payload.tenant === undefined ? payload.sub : payload.tenant;
    if (typeof tenant !== "string" || tenant === "")
      return { ok: false, kind: "invalid", message: "invalid JWT: the tenant claim must be a non-empty string" };
    const userIds = payload.user_ids;
    if (
      userIds !== undefined &&
      (!Array.isArray(userIds) || userIds.length === 0 || !userIds.every((u) => typeof u === "string"))
    ) {
      return {
        ok: false,
        kind: "invalid",
        message: "invalid JWT: the user_ids claim must be a non-empty array of strings",
      };
    }
    return {
      ok: true,
      principal: {
        kind: "jwt",
        id: `jwt:${payload.iss}#${payload.sub}`,
        tenant,
        userIds: userIds === undefined ? undefined : new Set(userIds as string[]),
      },
    };
  };
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
