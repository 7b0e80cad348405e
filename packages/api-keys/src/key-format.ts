import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/** Every key starts with this, so a key is told apart from a JWT and found by secret scanners. */
export const API_KEY_PREFIX = "aak_";

// aak_<key id: 16 hex>_<secret: 32 random bytes, base64url>. The id is public (listed, logged);
// only the secret's SHA-256 is stored. A 256-bit random secret needs no slow hash: nothing
// to brute-force, and a fast hash keeps authentication off the hot path's profile.
const KEY_FORMAT = /^aak_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

export interface ParsedApiKey {
  keyId: string;
  secret: string;
}

export interface NewApiKey extends ParsedApiKey {
  /** The whole key as the client sends it; shown once, never stored. */
  token: string;
  secretSha256: Buffer;
}

export function generateApiKey(): NewApiKey {
  const keyId = randomBytes(8).toString("hex");
  const secret = randomBytes(32).toString("base64url");
  return { keyId, secret, token: `${API_KEY_PREFIX}${keyId}_${secret}`, secretSha256: hashSecret(secret) };
}

/** The key id and secret, or undefined when `token` is not shaped like one of our keys. */
export function parseApiKey(token: string): ParsedApiKey | undefined {
  const match = KEY_FORMAT.exec(token);
  return match ? { keyId: match[1] as string, secret: match[2] as string } : undefined;
}

export const hashSecret = (secret: string): Buffer => createHash("sha256").update(secret).digest();

/** Constant-time comparison of a presented secret with the stored hash. */
export function secretMatches(secret: string, storedSha256: Buffer): boolean {
  const presented = hashSecret(secret);
  return presented.length === storedSha256.length && timingSafeEqual(presented, storedSha256);
}
