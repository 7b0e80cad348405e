import assert from "node:assert/strict";
import { test } from "node:test";
import { principalOf } from "../../services/ingest/src/auth/jwt.js";

const ISS = "https://auth.example";
const claims = (extra: Record<string, unknown>) => ({ iss: ISS, sub: "garmin-bridge", ...extra });

test("a JWT names its users or claims every user explicitly; no claim is refused naming both", () => {
  const missing = principalOf(claims({}));
  assert.equal(typeof missing, "string");
  assert.match(String(missing), /a user_ids claim \(a non-empty array of user ids\) or all_users: true/);
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ all_users: "true" }, /all_users claim must be true/],
    [{ all_users: false }, /all_users claim must be true/],
    [{ all_users: true, user_ids: ["u1"] }, /user_ids or all_users, not both/],
    [{ user_ids: [] }, /non-empty array of strings/],
    [{ user_ids: "u1" }, /non-empty array of strings/],
    [{ user_ids: ["u1", 2] }, /non-empty array of strings/],
    [{ user_ids: ["u1"], tenant: "" }, /tenant claim must be a non-empty string/],
    [{ user_ids: ["u1"], tenant: "t".repeat(129) }, /at most 128 characters/],
  ];
  for (const [extra, problem] of cases)
    assert.match(String(principalOf(claims(extra))), problem, JSON.stringify(extra));
});

test("user_ids scopes the token; all_users: true is the one way to write for everyone", () => {
  const scoped = principalOf(claims({ user_ids: ["u1", "u2"] }));
  assert.ok(typeof scoped !== "string");
  assert.deepEqual([...(scoped.userIds ?? [])], ["u1", "u2"]);
  const everyone = principalOf(claims({ all_users: true }));
  assert.ok(typeof everyone !== "string");
  assert.equal(everyone.userIds, undefined);
});

test("a JWT's source lives under its issuer, never in the API keys' tenant: space", () => {
  const bySub = principalOf(claims({ all_users: true }));
  const byTenant = principalOf(claims({ all_users: true, tenant: "acme" }));
  const otherIssuer = principalOf({ iss: "https://other.example", sub: "garmin-bridge", all_users: true });
  assert.ok(typeof bySub !== "string" && typeof byTenant !== "string" && typeof otherIssuer !== "string");
  assert.equal(bySub.source, `jwt:${ISS}#garmin-bridge`);
  assert.equal(byTenant.source, `jwt:${ISS}#acme`);
  assert.notEqual(otherIssuer.source, bySub.source);
  for (const p of [bySub, byTenant, otherIssuer]) assert.equal(p.source.startsWith("tenant:"), false);
  assert.equal(bySub.id, `jwt:${ISS}#garmin-bridge`);
});
