import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

// Layout of a sealed value: version (1 byte) | IV (12) | GCM tag (16) | ciphertext.
const VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + IV_BYTES + TAG_BYTES;

/**
 * Encrypts a secret (an OAuth token) with AES-256-GCM under a fresh random IV. `context`
 * (the owning row's user id) is authenticated, not stored: a value copied into another
 * row does not decrypt there.
 */
export function seal(key: Buffer, plaintext: string, context: string): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(Buffer.from(context, "utf8"));
  const ciphertext = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  return Buffer.concat([Buffer.from([VERSION]), iv, cipher.getAuthTag(), ciphertext]);
}

/** Decrypts a value made by `seal`; throws when the key, the context or the bytes differ. */
export function unseal(key: Buffer, sealed: Buffer, context: string): string {
  if (sealed.length < HEADER_BYTES || sealed[0] !== VERSION) throw new Error("sealed value has an unknown format");
  const iv = sealed.subarray(1, 1 + IV_BYTES);
  const tag = sealed.subarray(1 + IV_BYTES, HEADER_BYTES);
  const decipher = createDecipheriv("aes-256-gcm", key, iv);
  decipher.setAAD(Buffer.from(context, "utf8"));
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(sealed.subarray(HEADER_BYTES)), decipher.final()]).toString("utf8");
}
