import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { API_KEY_PREFIX, generateApiKey, hashSecret, parseApiKey, secretMatches } from "@aa/api-keys";

const KEY_ID = "0123456789abcdef";
const SECRET = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde"; // 43 base64url characters
const key = (keyId = KEY_ID, secret = SECRET) => `${API_KEY_PREFIX}${keyId}_${secret}`;

test("a key is aak_<16 lowercase hex>_<43 base64url characters>, parsed into its id and secret", () => {
  assert.equal(SECRET.length, 43);
  assert.deepEqual(parseApiKey(key()), { keyId: KEY_ID, secret: SECRET });
  // `-` and `_` belong to base64url, even first or last in the secret (the id ends at the first `_`).
  const edges = `_${SECRET.slice(2)}-`;
  assert.deepEqual(parseApiKey(key(KEY_ID, edges)), { keyId: KEY_ID, secret: edges });
});

test("a generated key parses back to its id and secret, and its stored hash matches the secret", () => {
  const generated = generateApiKey();
  assert.ok(generated.token.startsWith(API_KEY_PREFIX));
  assert.deepEqual(parseApiKey(generated.token), { keyId: generated.keyId, secret: generated.secret });
  assert.equal(secretMatches(generated.secret, generated.secretSha256), true);
  assert.notEqual(generateApiKey().token, generated.token);
});

test("refused: another prefix, or none", () => {
  for (const token of [
    `${KEY_ID}_${SECRET}`,
    `AAK_${KEY_ID}_${SECRET}`,
    `aak-${KEY_ID}_${SECRET}`,
    `ak_${KEY_ID}_${SECRET}`,
    `xaak_${KEY_ID}_${SECRET}`,
  ])
    assert.equal(parseApiKey(token), undefined, token);
});

test("refused: a key id that is not 16 lowercase hex characters", () => {
  for (const keyId of ["0123456789abcde", "0123456789abcdef0", "0123456789ABCDEF", "0123456789abcdeg", ""])
    assert.equal(parseApiKey(key(keyId)), undefined, keyId);
});

test("refused: a secret that is not 43 base64url characters (standard base64, padding, wrong length)", () => {
  const secrets = [SECRET.slice(1), `${SECRET}a`, `${SECRET.slice(1)}=`, `+${SECRET.slice(1)}`, `/${SECRET.slice(1)}`];
  for (const secret of [...secrets, `${SECRET.slice(1)}.`, ""])
    assert.equal(parseApiKey(key(KEY_ID, secret)), undefined, secret);
});

test("refused: anything around the key (whitespace, a line end, a Bearer scheme), a missing or other separator, a JWT", () => {
  for (const token of [
    ` ${key()}`,
    `${key()} `,
    `${key()}\n`,
    `Bearer ${key()}`,
    `${API_KEY_PREFIX}${KEY_ID}${SECRET}`,
    `${API_KEY_PREFIX}${KEY_ID}:${SECRET}`,
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl",
    "",
  ])
    assert.equal(parseApiKey(token), undefined, JSON.stringify(token));
});

test("the stored hash is the secret's SHA-256; another secret or a hash of another length does not match", () => {
  const stored = hashSecret(SECRET);
  assert.deepEqual(stored, createHash("sha256").update(SECRET).digest());
  assert.equal(secretMatches(SECRET, stored), true);
  assert.equal(secretMatches(`${SECRET.slice(0, -1)}f`, stored), false);
  assert.equal(secretMatches(SECRET, stored.subarray(0, 16)), false);
  assert.equal(secretMatches(SECRET, Buffer.alloc(0)), false);
});
