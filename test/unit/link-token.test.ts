import assert from "node:assert/strict";
import { test } from "node:test";
import { SignJWT } from "jose";
import { LINK_TOKEN_AUDIENCE, LINK_TOKEN_CLOCK_TOLERANCE_S, linkTokenVerifier } from "@aa/oura";

const SECRET = "unit-link-token-secret-0123456789abcdef";

const token = (iat: number, exp: number) =>
  new SignJWT({})
    .setProtectedHeader({ alg: "HS256" })
    .setSubject("athlete-unit")
    .setAudience(LINK_TOKEN_AUDIENCE)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .setJti("unit-jti-0001")
    .sign(new TextEncoder().encode(SECRET));

test("a token past exp is still accepted within the tolerance, and says until when: its used-marker must live as long", async () => {
  const now = Math.floor(Date.now() / 1000);
  const late = await linkTokenVerifier(SECRET)(await token(now - 100, now - 10));
  assert.ok(late.ok, "accepted 10 s after exp");
  assert.equal(late.claims.expiresAt.getTime(), (now - 10) * 1000);
  assert.equal(late.claims.acceptedUntil.getTime(), (now - 10 + LINK_TOKEN_CLOCK_TOLERANCE_S) * 1000);
  assert.ok(late.claims.acceptedUntil.getTime() > Date.now(), "the marker outlives this moment");
  const gone = await linkTokenVerifier(SECRET)(await token(now - 200, now - LINK_TOKEN_CLOCK_TOLERANCE_S - 5));
  assert.equal(gone.ok, false, "refused once acceptedUntil has passed");
});
