import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { after, before, describe, test } from "node:test";
import { Registry } from "prom-client";
import { createHttpServer, createLogger } from "@aa/service-kit";
import { rejectionCounter } from "../services/ingest/src/auth/guard.js";
import { admitByHeap } from "../services/ingest/src/limits/heap-admission.js";
import { requestCostBytes, type HeapBudget } from "../services/ingest/src/limits/heap-budget.js";
import { openSocket, rawPost, readResponses } from "./helpers/raw-http.js";
import { waitFor } from "./helpers/wait.js";

const KiB = 1024;

/** A promise with its resolve, for handlers and hooks the test lets go of. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

/**
 * createHttpServer with the heap admission in a scope behind a stand-in for authentication (an async onRequest that
 * can be held), as app.ts registers it; /health outside the scope. Full collections are reported by the test.
 */
async function startServer() {
  const registry = new Registry();
  const app = createHttpServer({
    logger: createLogger({ service: "heap-admission-test", level: "silent" }),
    registry,
    requestTimeoutMs: 1_000,
  });
  const gates = { auth: gate(), handler: gate() };
  // Set when a held request's client has gone, as the server saw it.
  const left = { auth: false, handler: false };
  let authHeld = false;
  let pastAdmission = 0;
  let budget!: HeapBudget;
  let collection!: (usedBytes: number) => void;
  await app.register(async (scope) => {
    scope.addHook("onRequest", async (request, reply) => {
      if (request.headers["x-hold-auth"] === undefined) return;
      reply.raw.once("close", () => (left.auth = true));
      authHeld = true;
      await gates.auth.opened;
    });
    budget = admitByHeap(scope, {
      budgetBytes: 1024 * KiB,
      rejected: rejectionCounter(registry),
      registry,
      watchCollections: (onCollection) => {
        collection = onCollection;
        return () => {};
      },
    });
    scope.addHook("onRequest", async () => void pastAdmission++);
    scope.post("/fast", async () => ({ ok: true }));
    scope.post("/slow", { config: { maxReadings: 1_000 } }, async (_request, reply) => {
      reply.raw.once("close", () => (left.handler = true));
      await gates.handler.opened;
      return { ok: true };
    });
    scope.post("/boom", async () => {
      throw new Error("boom");
    });
    scope.post("/refused", { preHandler: async (_request, reply) => reply.code(403).send({}) }, async () => ({}));
  });
  app.get("/health", async () => ({ status: "healthy" }));
  await app.listen({ port: 0, host: "127.0.0.1" });
  // The floor is whatever the heap held when admission started; a full collection with nothing in flight sets it.
  collection(0);
  const port = (app.server.address() as { port: number }).port;
  return {
    app,
    port,
    registry,
    gates,
    left,
    authHeld: () => authHeld,
    pastAdmission: () => pastAdmission,
    budget: () => budget,
  };
}

/** POSTs `bytes` of JSON; resolves with the status, or `aborted` when `abortAfterMs` passes first. */
function post(port: number, path: string, bytes: number, options: { abortAfterMs?: number } = {}) {
  const body = JSON.stringify({ pad: "x".repeat(Math.max(0, bytes - 10)) });
  return new Promise<{ status: number | "aborted"; retryAfter?: string; body: string }>((resolve, reject) => {
    const req = httpRequest({ port, path, method: "POST", headers: { "content-type": "application/json" } }, (res) => {
      let text = "";
      res.on("data", (chunk: Buffer) => (text += chunk.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers["retry-after"], body: text }));
    });
    req.on("error", (error) => (options.abortAfterMs === undefined ? reject(error) : undefined));
    req.end(body);
    if (options.abortAfterMs !== undefined)
      setTimeout(() => {
        req.destroy();
        resolve({ status: "aborted", body: "" });
      }, options.abortAfterMs);
  });
}

const metric = async (registry: Registry, line: RegExp) => (await registry.metrics()).match(line)?.[1];

describe("heap admission (in process): reservations, shedding, and every way a request ends", () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  before(async () => (server = await startServer()));
  after(async () => server.app.close());
  const reserved = () => server.budget().reservedBytes;
  const nothingReserved = () => waitFor(() => reserved() === 0, { what: "every reservation returned" });

  test("a request holds its estimate while in flight; past the budget the next gets 503 + Retry-After", async () => {
    const slow = post(server.port, "/slow", 1_000);
    await waitFor(() => reserved() > 0, { what: "the slow request admitted" });
    assert.equal(reserved(), requestCostBytes(1_000, 1_000), "4 B per body byte, 6 KiB per reading it can hold (23)");
    assert.equal(await metric(server.registry, /^ingest_heap_reserved_bytes (\d+)$/m), String(reserved()));

    const shed = await post(server.port, "/fast", 250 * KiB);
    assert.equal(shed.status, 503);
    assert.equal(shed.retryAfter, "5");
    assert.match(JSON.parse(shed.body).error, /^Overloaded \(heap\): the request was not accepted\. Retry later\.$/);
    assert.equal(
      await metric(server.registry, /^ingest_requests_rejected_total\{reason="overloaded_memory"\} (\d+)$/m),
      "1",
    );
    const health = await fetch(`http://127.0.0.1:${server.port}/health`);
    assert.equal(health.status, 200, "health is never shed");
    assert.equal((await post(server.port, "/fast", 100)).status, 200, "a small one still fits");

    server.gates.handler.open();
    assert.equal((await slow).status, 200);
    await nothingReserved();
    assert.equal((await post(server.port, "/fast", 250 * KiB)).status, 200, "with nothing in flight it is admitted");
    await nothingReserved();
    assert.equal(await metric(server.registry, /^ingest_heap_reserved_bytes (\d+)$/m), "0");
  });

  test("returned after an error (500) and after a later hook's early answer (403)", async () => {
    assert.equal((await post(server.port, "/boom", 500)).status, 500);
    assert.equal((await post(server.port, "/refused", 500)).status, 403);
    await nothingReserved();
  });

  test("a client that leaves while the handler works: held until the handler answers", async () => {
    server.gates.handler = gate();
    const aborted = post(server.port, "/slow", 5_000, { abortAfterMs: 100 });
    await waitFor(() => server.left.handler, { what: "the server sees the client leave" });
    assert.equal((await aborted).status, "aborted");
    assert.ok(reserved() > 0, "the handler still holds the request: its reservation stays");
    server.gates.handler.open();
    await nothingReserved();
  });

  test("a client that leaves mid-upload, during authentication, or trickles past the request timeout", async () => {
    const midUpload = await openSocket(server.port);
    midUpload.write(rawPost("/fast", 50_000) + "{");
    await waitFor(() => reserved() > 0, { what: "the upload admitted" });
    midUpload.destroy();
    await nothingReserved();

    server.gates.auth = gate();
    const duringAuth = await openSocket(server.port);
    duringAuth.write(rawPost("/fast", 2, "x-hold-auth: 1\r\n") + "{}");
    await waitFor(() => server.authHeld(), { what: "the request held in authentication" });
    duringAuth.destroy();
    await waitFor(() => server.left.auth, { what: "the server sees the client leave during authentication" });
    const admissions = server.pastAdmission();
    server.gates.auth.open();
    await waitFor(() => server.pastAdmission() > admissions, { what: "the admission hook has run" });
    assert.equal(reserved(), 0, "nothing will answer a request whose client left before its body was read");

    const trickle = await openSocket(server.port);
    trickle.write(rawPost("/fast", 1_000) + "{");
    const answer = await readResponses(trickle, 3_000);
    assert.match(answer.text, /^HTTP\/1\.1 408/);
    await nothingReserved();
  });
});
