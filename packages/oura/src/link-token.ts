import { randomUUID } from "node:crypto";
import { jwtVerify, SignJWT, type JWTPayload } from "jose";
import { compileValidator, UserId } from "@aa/contracts";

/**
 * Link tokens: short-lived HS256 JWTs that the app's backend mints for its signed-in user, and
 * normalize's `/auth/oura/link` accepts once. They say "the app vouches that the browser holding
 * this is user `sub`"; a token minted for any other purpose (another audience) is refused.
 */
export const LINK_TOKEN_AUDIENCE = "athlete-ally:oura-link";
/** Longest lifetime a link token may have (`exp` - `iat`), in seconds. */
export const LINK_TOKEN_MAX_LIFETIME_S = 600;
/** Shortest OURA_LINK_TOKEN_SECRET accepted: 32 characters, as ingest's INGEST_JWT_SECRET. */
export const LINK_TOKEN_SECRET_MIN_LENGTH = 32;

// Pinned: jose never accepts `alg: none`, and a single HMAC algorithm leaves no algorithm choice to the token.
const ALGORITHMS = ["HS256"];
/** Seconds of clock skew the verifier forgives: a token is accepted until `exp` plus this. */
export const LINK_TOKEN_CLOCK_TOLERANCE_S = 30;
const TOKEN_ID = /^[A-Za-z0-9._:-]{8,128}$/;
const validateUserId = compileValidator(UserId);

/** What a valid link token proves. */
export interface LinkTokenClaims {
  /** Our user id (`sub`). */
  userId: string;
  /** `jti`: remembered until `acceptedUntil` so the token starts one link only. */
  tokenId: string;
  /** `exp`. */
  expiresAt: Date;
  /**
   * The last instant this verifier accepts the token: `exp` plus the clock tolerance. A record of its use must
   * outlive this instant, not `exp`, or the token works again in between.
   */
  acceptedUntil: Date;
}

export type LinkTokenOutcome = { ok: true; claims: LinkTokenClaims } | { ok: false; message: string };

const secretBytes = (secret: string): Uint8Array => {
  if (secret.length < LINK_TOKEN_SECRET_MIN_LENGTH) {
    throw new RangeError(`the link token secret must be at least ${LINK_TOKEN_SECRET_MIN_LENGTH} characters`);
  }
  return new TextEncoder().encode(secret);
};

/** Signs a link token for `userId`, valid `lifetimeS` seconds (at most LINK_TOKEN_MAX_LIFETIME_S). */
export async function mintLinkToken(
  secret: string,
  userId: string,
  lifetimeS = LINK_TOKEN_MAX_LIFETIME_S,
): Promise<string> {
  if (!validateUserId(userId).ok) {
    throw new RangeError(`${JSON.stringify(userId)} is not a valid user id (1-128 characters, no control characters)`);
  }
  if (!Number.isInteger(lifetimeS) || lifetimeS < 1 || lifetimeS > LINK_TOKEN_MAX_LIFETIME_S) {
    throw new RangeError(`a link token lives 1 to ${LINK_TOKEN_MAX_LIFETIME_S} seconds, got ${lifetimeS}`);
  }
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(userId)
    .setAudience(LINK_TOKEN_AUDIENCE)
    .setIssuedAt(now)
    .setExpirationTime(now + lifetimeS)
    .setJti(randomUUID())
    .sign(secretBytes(secret));
}

/** The claims' problem beyond what jose checks, or undefined. */
function claimsProblem(payload: JWTPayload): string | undefined {
  const { sub, jti, iat, exp } = payload as Required<Pick<JWTPayload, "sub" | "jti" | "iat" | "exp">>;
  if (!validateUserId(sub).ok) return "sub must be a user id (1-128 characters, no control characters)";
  if (!TOKEN_ID.test(jti)) return "jti must be 8-128 characters of A-Z a-z 0-9 . _ : -";
  // A token that claims a long life is refused outright, not trusted for its first ten minutes.
  const lifetime = exp - iat;
  if (lifetime > LINK_TOKEN_MAX_LIFETIME_S)
    return `the token lives ${lifetime} s; at most ${LINK_TOKEN_MAX_LIFETIME_S} s is accepted`;
  return undefined;
}

/** A verifier of link tokens signed with `secret`: signature, HS256 only, audience, exp, iat, sub, jti. */
export function linkTokenVerifier(secret: string): (token: string) => Promise<LinkTokenOutcome> {
  const key = secretBytes(secret);
  return async (token) => {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, key, {
        audience: LINK_TOKEN_AUDIENCE,
        algorithms: ALGORITHMS,
        requiredClaims: ["exp", "iat", "sub", "jti"],
        maxTokenAge: LINK_TOKEN_MAX_LIFETIME_S,
        clockTolerance: LINK_TOKEN_CLOCK_TOLERANCE_S,
      }));
    } catch (error) {
      return { ok: false, message: (error as Error).message };
    }
    const problem = claimsProblem(payload);
    if (problem !== undefined) return { ok: false, message: problem };
    const expiresAt = new Date(payload.exp! * 1000);
    const acceptedUntil = new Date((payload.exp! + LINK_TOKEN_CLOCK_TOLERANCE_S) * 1000);
    const claims = { userId: payload.sub!, tokenId: payload.jti!, expiresAt, acceptedUntil };
    return { ok: true, claims };
  };
}
