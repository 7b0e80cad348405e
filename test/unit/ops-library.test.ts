import assert from "node:assert/strict";
import { test } from "node:test";
import type pg from "pg";
import type { ApiKeyRecord } from "@aa/api-keys";
import { checksPassed, fail, pass, unknown } from "../../tools/ops/src/checks.js";
import { countResults, replayMsgId, type ReplayOutcome } from "../../tools/ops/src/dlq/replay.js";
import type { DlqEntry } from "../../tools/ops/src/dlq/entry.js";
import { ouraRevocationRefusal } from "../../tools/ops/src/erase/erase.js";
import { OpsError, OpsRefusal } from "../../tools/ops/src/errors.js";
import { apiKeyView, withApiKeyTable } from "../../tools/ops/src/keys/keys.js";
import { soakWindow } from "../../tools/ops/src/soak/evaluate.js";
import { newProbe, probeAccepted, PROBE, rowVerdict, type ProbeTarget } from "../../tools/ops/src/verify/probe.js";
import { dlqCheck } from "../../tools/ops/src/verify/run.js";
import { refusedMessage, replaySummary } from "../../tools/ops/src/commands/dlq-view.js";

const probeTarget: ProbeTarget = {
  ingestUrl: "http://ingest",
  ingestAdminUrl: "http://ingest-admin",
  ingestApiKey: undefined,
  database: { url: "postgres://x@h/db", schema: undefined, tls: {} },
  probeTimeoutMs: 15_000,
};

test("verify: a probe's user id is its own and its event id unique, both stamped with the time", () => {
  const now = new Date("2026-12-05T13:14:15.678Z");
  const [a, b] = [newProbe(now), newProbe(now)];
  assert.equal(a.userId, "aa-ops-verify-20261205T131415678Z");
  assert.match(a.eventId, /^aa-ops-verify-20261205T131415678Z-[0-9a-f]{8}$/);
  assert.notEqual(a.eventId, b.eventId);
});

test("verify: the probe's row passes only with ln_rmssd = ln(55); no row fails pointing at status", () => {
  const good = rowVerdict({ user_id: "u", rmssd: 55, ln_rmssd: Math.log(55) }, 1200, probeTarget);
  assert.equal(good.status, "PASS");
  assert.match(good.detail, /^after 1\.2 s: user_id u, rmssd 55, ln_rmssd 4\.007333 = ln\(55\)$/);
  const wrong = rowVerdict({ user_id: "u", rmssd: 55, ln_rmssd: 4 }, 10, probeTarget);
  assert.equal(wrong.status, "FAIL");
  assert.deepEqual(wrong.reasons, ["expected ln(55) = 4.007333"]);
  const none = rowVerdict(undefined, 15_000, probeTarget);
  assert.equal(none.status, "FAIL");
  assert.equal(none.detail, "no row within 15 s");
  assert.equal(none.investigate, "aa-ops status");
});

test("verify: the probe counts as accepted (its row kept) only when its POST passed", () => {
  const posted = (ok: boolean) => (ok ? pass : fail)(PROBE, "POST /ingest/hrv", "");
  assert.equal(probeAccepted([posted(true)]), true);
  assert.equal(probeAccepted([posted(false)]), false);
  assert.equal(probeAccepted([pass("Streams", "POST /ingest/hrv", "")]), false, "another section's check");
});

test("verify: the DLQ check counts new entries by sequence, so a purge during the probe hides none", () => {
  assert.equal(dlqCheck("AA_DLQ", { messages: 3, lastSeq: 9 }, { messages: 3, lastSeq: 9 }, "multi").status, "PASS");
  const purgedAndNew = dlqCheck("AA_DLQ", { messages: 3, lastSeq: 9 }, { messages: 1, lastSeq: 10 }, "multi");
  assert.equal(purgedAndNew.status, "FAIL");
  assert.equal(purgedAndNew.detail, "1 new message(s): 3 → 1");
  assert.equal(purgedAndNew.investigate, "aa-ops stream get AA_DLQ 10");
  const missing = dlqCheck("AA_DLQ", new Error("stream AA_DLQ does not exist"), { messages: 0, lastSeq: 0 }, "single");
  assert.equal(missing.detail, "stream AA_DLQ does not exist");
  assert.equal(missing.investigate, "aa-ops topology plan --mode single");
});

test("checks: UNKNOWN passes only when allowed; any FAIL never does", () => {
  const [ok, bad, unsure] = [pass("s", "a", ""), fail("s", "b", ""), unknown("s", "c", "")];
  assert.equal(checksPassed([ok]), true);
  assert.equal(checksPassed([ok, unsure]), false);
  assert.equal(checksPassed([ok, unsure], true), true);
  assert.equal(checksPassed([ok, bad, unsure], true), false);
});

test("soak: the window ends at the evaluation time and starts --since before it", () => {
  const end = new Date("2026-12-05T12:00:00Z");
  const w = soakWindow({ text: "2h", seconds: 7200 }, end);
  assert.deepEqual(w, { text: "2h", seconds: 7200, start: new Date("2026-12-05T10:00:00Z"), end });
});

test("erase: refused before anything changes only when acting would delete Oura tokens it cannot revoke", () => {
  const linked = { oura: { ouraUserId: "o", sealedAccessToken: Buffer.alloc(1) } };
  const act = { act: true, skipOuraRevoke: false, ouraKey: undefined };
  assert.match(ouraRevocationRefusal(act, linked) ?? "", /set OURA_TOKEN_ENCRYPTION_KEY .* or pass --no-oura-revoke/);
  assert.equal(ouraRevocationRefusal({ ...act, act: false }, linked), undefined, "a dry run changes nothing");
  assert.equal(ouraRevocationRefusal({ ...act, skipOuraRevoke: true }, linked), undefined, "--no-oura-revoke");
  assert.equal(ouraRevocationRefusal({ ...act, ouraKey: Buffer.alloc(32) }, linked), undefined, "it can revoke");
  assert.equal(ouraRevocationRefusal(act, { oura: undefined }), undefined, "no account linked");
});

test("errors: a refusal is an OpsError with its own code, so callers decide by type", () => {
  const refusal = new OpsRefusal("no key", "ERASE_OURA_NOT_REVOCABLE");
  assert.ok(refusal instanceof OpsError);
  assert.equal(refusal.code, "ERASE_OURA_NOT_REVOCABLE");
  assert.equal(new OpsError("x").code, "OPS_FAILED");
});

const outcome = (seq: number, result: ReplayOutcome["result"], deleted = false): ReplayOutcome => ({
  seq,
  originalSubject: "athlete-ally.hrv.raw-received",
  msgId: `m-${seq}:replay:${seq}`,
  result,
  deleted,
});

test("dlq replay: outcomes counted per result; the summary and the refusal say what happened and what to do", () => {
  const outcomes = [outcome(1, "republished", true), outcome(2, "duplicate", true), outcome(3, "refused")];
  assert.equal(countResults(outcomes, "refused"), 1);
  assert.equal(
    replaySummary(outcomes, 5, 1234),
    "Replay: 1 republished, 1 duplicate, 0 would_replay, 1 refused, 0 failed; 2 DLQ entries deleted; " +
      "2 not attempted (1.2 s)",
  );
  const [first, , ahead] = refusedMessage(outcomes, "AA_DLQ", new Set(["athlete-ally.hrv.raw-received"])).split("\n");
  assert.equal(
    first,
    "refused 1 dead letter (#3): nothing was sent for it, it stays in AA_DLQ; each ⛔ line says why.",
  );
  assert.equal(ahead, "The other selected entries went ahead: 2 replayed (✅ lines).");
});

test("dlq replay: a replay's msg id keeps the original root, so replaying a replay does not nest", () => {
  const entry = (seq: number, originalMsgId: string) => ({ seq, originalMsgId }) as DlqEntry;
  assert.equal(replayMsgId(entry(7, "evt-1")), "evt-1:replay:7");
  assert.equal(replayMsgId(entry(9, "evt-1:replay:7")), "evt-1:replay:9");
  assert.equal(replayMsgId(entry(4, "")), "dlq-4:replay:4");
});

test("keys: a missing ingest_api_keys names the migration; other failures name the database", async () => {
  const db = {} as pg.Pool;
  const failing = (error: object) => () => Promise.reject(Object.assign(new Error("boom"), error));
  await assert.rejects(withApiKeyTable(db, "postgres://ops@h/db", failing({ code: "42P01" })), {
    name: "OpsError",
    code: "NO_API_KEY_TABLE",
    message: /^ingest_api_keys does not exist in postgres:\/\/ops@h\/db: apply the migrations first/,
  });
  await assert.rejects(withApiKeyTable(db, "postgres://ops@h/db", failing({ code: "28P01" })), {
    code: "API_KEY_TABLE",
    message: "cannot use ingest_api_keys in postgres://ops@h/db: boom",
  });
  assert.equal(await withApiKeyTable(db, "x", () => Promise.resolve(3)), 3);
});

test("keys: the JSON view of a key shows its scope and state, never a secret", () => {
  const key = {
    keyId: "0123456789abcdef",
    name: "bridge",
    tenant: "t",
    userIds: undefined,
    createdAt: new Date("2026-01-01T00:00:00Z"),
    expiresAt: new Date("2026-01-02T00:00:00Z"),
    revokedAt: undefined,
  } as unknown as ApiKeyRecord;
  const view = apiKeyView(key, new Date("2026-01-03T00:00:00Z"));
  assert.deepEqual(view, {
    keyId: "0123456789abcdef",
    name: "bridge",
    tenant: "t",
    userIds: null,
    state: "expired",
    createdAt: "2026-01-01T00:00:00.000Z",
    expiresAt: "2026-01-02T00:00:00.000Z",
    revokedAt: null,
  });
});
