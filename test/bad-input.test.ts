import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { createStack, getJson, type Stack } from "./helpers/stack.js";

const SECRET = "whsec-bad-input-0123456789abcdef0123";
const SINGLE = ["/ingest/hrv", "/api/v1/ingest/hrv", "/ingest/sleep", "/api/v1/ingest/sleep"];
const BATCH = SINGLE.map((path) => `${path}/batch`);

interface Hostile {
  name: string;
  body: string | Buffer;
  contentType?: string;
  headers?: Record<string, string>;
}

const nest = (depth: number) => `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;

/** A reading of the route's kind with one field replaced by raw JSON text (`undefined`: field left out). */
function reading(path: string, field: string, rawJson: string | undefined): string {
  const base: Record<string, string> = path.includes("hrv")
    ? { userId: '"bad-input"', date: '"2025-10-02"', rmssd: "50" }
    : { userId: '"bad-input"', date: '"2025-10-02"', durationMinutes: "480" };
  // Entries, not an object: assigning `__proto__` on an object would set its prototype, not add the key.
  const entries = Object.entries(base).filter(([k]) => k !== field);
  if (rawJson !== undefined) entries.push([field, rawJson]);
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(",")}}`;
}

/** Field-level hostility: every value here is invalid for its field. */
function fieldCases(path: string): Hostile[] {
  const metric = path.includes("hrv") ? "rmssd" : "durationMinutes";
  const badNumbers = path.includes("hrv")
    ? ["0", "-0", "1e308", "-1e308", "1000.0001", "-1", "1e-400"]
    : ["1440.5", "-1", "1e308", "-1e308", "-0.0001", "1440.0001"];
  const tokens = [
    "NaN",
    "Infinity",
    "-Infinity",
    "undefined",
    '"NaN"',
    '"Infinity"',
    '"-Infinity"',
    '"50"',
    "true",
    "null",
    "[]",
    "{}",
    "[50]",
    "0x10",
    "1_000",
    "+5",
    ".5",
  ];
  const dates = [
    '"2025-02-29"',
    '"2025-13-45"',
    '"0000-00-00"',
    '""',
    "20251002",
    '"2025-10-02\\u0000"',
    '"10/02/2025"',
    "null",
  ];
  const userIds = [
    "123",
    '""',
    `"${"u".repeat(129)}"`,
    `"${"u".repeat(200_000)}"`,
    '"\\u0000"',
    '"a\\u0007b"',
    "null",
    '{"$gt":""}',
  ];
  return [
    ...[...badNumbers, ...tokens].map((v) => ({ name: `${metric}=${v.slice(0, 20)}`, body: reading(path, metric, v) })),
    ...dates.map((v) => ({ name: `date=${v.slice(0, 20)}`, body: reading(path, "date", v) })),
    ...userIds.map((v) => ({ name: `userId=${v.slice(0, 20)}`, body: reading(path, "userId", v) })),
    { name: "missing metric", body: reading(path, metric, undefined) },
    { name: "missing userId", body: reading(path, "userId", undefined) },
    { name: "eventId with spaces", body: reading(path, "eventId", '"a b"') },
    { name: "eventId path", body: reading(path, "eventId", '"../../etc/passwd"') },
    { name: "eventId too long", body: reading(path, "eventId", `"${"e".repeat(129)}"`) },
    { name: "unknown field", body: reading(path, "admin", "true") },
    { name: "__proto__ key", body: reading(path, "__proto__", '{"admin":true}') },
    { name: "constructor key", body: reading(path, "constructor", '{"prototype":{"admin":true}}') },
    { name: "raw __proto__", body: reading(path, "raw", '{"__proto__":{"admin":true}}') },
    { name: "raw constructor", body: reading(path, "raw", '{"constructor":{"prototype":{"x":1}}}') },
    { name: "raw deeply nested", body: reading(path, "raw", nest(5_000)) },
    { name: "raw an array", body: reading(path, "raw", "[1,2,3]") },
  ];
}

/** Body-level hostility, the same for every route. */
function bodyCases(): Hostile[] {
  const bad = [
    "",
    " ",
    "{",
    "}",
    '{"a":}',
    "[1,2",
    "nul",
    "'single'",
    '{"userId":"u",}',
    "{}{}",
    '{"a":1} trailing',
    "\u0000",
    "NaN",
    "Infinity",
    "null",
    "true",
    "42",
    '"string"',
    "[]",
    "{}",
    "[{}]",
  ];
  return [
    ...bad.map((body) => ({ name: `body ${JSON.stringify(body).slice(0, 20)}`, body })),
    { name: "invalid UTF-8", body: Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]) },
    {
      name: "invalid UTF-8 in a value",
      body: Buffer.concat([
        Buffer.from('{"userId":"'),
        Buffer.from([0xc3, 0x28, 0xa0, 0xa1]),
        Buffer.from('","date":"2025-10-02","rmssd":50,"durationMinutes":480}'),
      ]),
    },
    {
      name: "lone surrogate escape",
      body: '{"userId":"\\ud800","date":"2025-10-02","rmssd":50,"durationMinutes":480}',
    },
    { name: "UTF-16 BOM body", body: Buffer.from("\ufeff{}", "utf16le") },
    { name: "deep array", body: `${"[".repeat(100_000)}${"]".repeat(100_000)}` },
    { name: "deep object", body: nest(20_000) },
    { name: "oversized body (413)", body: `{"userId":"${"x".repeat(3_000_000)}"}` },
    { name: "text/plain", body: "{}", contentType: "text/plain" },
    { name: "form", body: "userId=a&date=2025-10-02&rmssd=50", contentType: "application/x-www-form-urlencoded" },
    { name: "xml", body: "<hrv/>", contentType: "application/xml" },
    { name: "multipart", body: "--x\r\n\r\n--x--", contentType: "multipart/form-data; boundary=x" },
    { name: "json with bad charset", body: "{}", contentType: "application/json; charset=utf-7" },
    { name: "no content type", body: "{}", contentType: "" },
    { name: "oversized header (431)", body: "{}", headers: { "x-big": "h".repeat(40_000) } },
    {
      name: "bad Idempotency-Key",
      body: '{"userId":"u","date":"2025-10-02","rmssd":50,"durationMinutes":480,"qualityScore":1}',
      headers: { "idempotency-key": "has spaces" },
    },
  ];
}

/** Batch bodies: wrong shapes (400) and items that are all invalid. */
function batchCases(path: string): Hostile[] {
  const items = fieldCases(path.replace("/batch", "")).slice(0, 20);
  return [
    { name: "items not an array", body: '{"items":{}}' },
    { name: "items empty", body: '{"items":[]}' },
    { name: "items 1001", body: JSON.stringify({ items: Array.from({ length: 1001 }, () => ({})) }) },
    { name: "extra key", body: '{"items":[{}],"x":1}' },
    { name: "top-level array", body: "[{}]" },
    { name: "__proto__ beside items", body: '{"items":[{}],"__proto__":{"a":1}}' },
    ...items.map((item) => ({
      name: `items [${item.name}]`,
      body: `{"items":[${String(item.body)}]}`,
      allRejected: true,
    })),
  ];
}

async function send(
  url: string,
  c: Hostile,
  extra: Record<string, string> = {},
): Promise<{ status: number; text: string }> {
  const headers: Record<string, string> = {
    ...(c.contentType === "" ? {} : { "content-type": c.contentType ?? "application/json" }),
    ...c.headers,
    ...extra,
  };
  try {
    const response = await fetch(url, {
      method: "POST",
      headers,
      body: typeof c.body === "string" ? c.body : new Uint8Array(c.body),
      signal: AbortSignal.timeout(30_000),
    });
    return { status: response.status, text: await response.text() };
  } catch (error) {
    return { status: 0, text: String(error) };
  }
}

function sign(body: string | Buffer): Record<string, string> {
  const timestamp = String(Math.floor(Date.now() / 1000));
  return {
    "x-oura-signature": createHmac("sha256", SECRET).update(timestamp).update(body).digest("hex"),
    "x-oura-timestamp": timestamp,
  };
}

async function storedMessages(stack: Stack): Promise<number> {
  let total = 0;
  for await (const stream of stack.jsm.streams.list()) total += stream.state.messages;
  return total;
}

describe("bad input", () => {
  let stack: Stack;
  before(async () => {
    stack = await createStack({ mode: "multi" });
    await stack.startIngest({ OURA_WEBHOOK_SECRET: SECRET, OURA_VERIFICATION_TOKEN: "verify" });
  });
  after(async () => stack.close());

  test("500+ hostile requests to every ingest route: each a 4xx with a JSON error, nothing published, the process keeps serving", async () => {
    const before = await storedMessages(stack);
    const requests: { route: string; c: Hostile & { allRejected?: boolean }; extra?: Record<string, string> }[] = [];
    for (const route of SINGLE) for (const c of [...fieldCases(route), ...bodyCases()]) requests.push({ route, c });
    for (const route of BATCH) for (const c of [...batchCases(route), ...bodyCases()]) requests.push({ route, c });
    for (const c of [...bodyCases(), ...fieldCases("/ingest/sleep")]) {
      requests.push({ route: "/webhooks/oura", c });
      requests.push({ route: "/webhooks/oura", c: { ...c, name: `${c.name} (signed)` }, extra: sign(c.body) });
    }
    assert.ok(requests.length >= 500, `only ${requests.length} requests`);

    const failures: string[] = [];
    let partialBatches = 0;
    for (const { route, c, extra } of requests) {
      const { status, text } = await send(`${stack.ingestUrl}${route}`, c, extra);
      let body: { error?: unknown; received?: unknown } = {};
      try {
        body = JSON.parse(text) as typeof body;
      } catch {
        /* not JSON: reported below */
      }
      // A batch whose items are each invalid is a documented 207 with every item rejected, none received.
      if (c.allRejected && status === 207 && body.received === 0) {
        partialBatches++;
        continue;
      }
      if (status < 400 || status >= 500 || typeof body.error !== "string")
        failures.push(`${route} ${c.name}: ${status} ${text.slice(0, 120)}`);
    }
    console.log(
      `[bad-input] ${requests.length} hostile requests, ${partialBatches} item-invalid batches answered 207 (all rejected)`,
    );
    assert.deepEqual(failures, []);
    assert.equal((await getJson(`${stack.ingestUrl}/health`)).status, 200);
    assert.equal(stack.ingest!.process.exitCode, null);
    assert.equal(await storedMessages(stack), before, "something was published");
  });
});
