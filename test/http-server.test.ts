import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { FastifyInstance } from "fastify";
import { Registry } from "prom-client";
import { createHttpServer, createLogger, type HttpServerOptions } from "@aa/service-kit";
import { openSocket, rawPost, readResponses } from "./helpers/raw-http.js";

const LIMIT = 1_024;

/** createHttpServer with `options` and one route, `POST /echo`, answering `{ got: <body> }`. */
async function startEchoServer(options: Partial<HttpServerOptions>): Promise<{ app: FastifyInstance; port: number }> {
  const app = createHttpServer({
    logger: createLogger({ service: "http-server-test", level: "silent" }),
    registry: new Registry(),
    ...options,
  });
  app.post("/echo", async (request) => ({ got: request.body }));
  await app.listen({ port: 0, host: "127.0.0.1" });
  return { app, port: (app.server.address() as { port: number }).port };
}

describe("HTTP server: an oversized body is answered 413 without resetting the client", () => {
  let app: FastifyInstance;
  let port: number;
  before(async () => ({ app, port } = await startEchoServer({ bodyLimitBytes: LIMIT })));
  after(async () => app.close());

  // A client that is still uploading when the 413 is sent: Fastify's default closes the
  // connection, so the rest of the upload meets a reset, which can destroy the unread 413
  // (seen as "fetch failed" in CI). Here the body is sent only after the 413 has arrived,
  // which makes that race certain rather than occasional.
  test("the 413 comes before the body is sent; the body is then read and the connection serves the next request", async () => {
    const socket = await openSocket(port);
    const oversized = `{"a":"${"x".repeat(LIMIT * 100)}"}`;
    socket.write(rawPost("/echo", Buffer.byteLength(oversized)));
    const first = await readResponses(socket);
    assert.match(first.text, /^HTTP\/1\.1 413 /);
    assert.match(first.text, /"error":"Payload Too Large"|"message":"Request body is too large"/);
    assert.doesNotMatch(first.text, /connection: close/i);
    assert.equal(first.closed, false, "the server closed the connection after the 413");

    socket.write(oversized);
    const small = '{"b":1}';
    socket.write(`${rawPost("/echo", small.length)}${small}`);
    const second = await readResponses(socket);
    assert.equal(
      second.closed,
      false,
      `the server closed the connection while the rejected body was arriving: ${second.text}`,
    );
    assert.match(second.text, /^HTTP\/1\.1 200 /);
    assert.match(second.text, /\{"got":\{"b":1\}\}/);
    socket.destroy();
  });

  test("a declared body beyond what is worth reading still gets its 413, and the connection closes", async () => {
    const socket = await openSocket(port);
    socket.write(rawPost("/echo", 10 * 1024 * 1024 * 1024));
    const response = await readResponses(socket, 2_000);
    assert.match(response.text, /^HTTP\/1\.1 413 /);
    assert.match(response.text, /connection: close/i);
    assert.equal(response.closed, true);
  });
});

describe("HTTP server: a request must arrive whole within requestTimeoutMs", () => {
  let app: FastifyInstance;
  let port: number;
  before(async () => ({ app, port } = await startEchoServer({ requestTimeoutMs: 1_000 })));
  after(async () => app.close());

  test("a body that trickles gets 408 and the connection closes; a prompt one is served", async () => {
    const socket = await openSocket(port);
    const started = Date.now();
    socket.write(`${rawPost("/echo", 100)}{"a":`);
    const dripping = setInterval(() => socket.writable && socket.write(" "), 200);
    const response = await readResponses(socket, 5_000);
    clearInterval(dripping);
    const elapsed = Date.now() - started;
    assert.match(response.text, /^HTTP\/1\.1 408 /);
    assert.equal(response.closed, true);
    assert.ok(elapsed >= 1_000 && elapsed < 4_000, `answered after ${elapsed} ms`);

    const prompt = await fetch(`http://127.0.0.1:${port}/echo`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"a":1}',
    });
    assert.equal(prompt.status, 200);
  });
});

// rate()/increase() cannot see a series whose first sample is already 1: a process's first 500
// would never reach the dashboard or the 5xx alert. Every route starts with its usual answers at 0.
test("every route's status-code series exist at 0 before the first request", async () => {
  const registry = new Registry();
  const app = createHttpServer({ logger: createLogger({ service: "http-server-test", level: "silent" }), registry });
  app.post("/echo", async (request) => ({ got: request.body }));
  app.get("/thing", async () => ({}));
  await app.ready();
  try {
    const text = await registry.metrics();
    for (const [method, route] of [
      ["POST", "/echo"],
      ["GET", "/thing"],
    ]) {
      for (const code of ["400", "500", "503"]) {
        assert.match(
          text,
          new RegExp(`^http_requests_total\\{route="${route}",method="${method}",status_code="${code}"\\} 0$`, "m"),
          `${method} ${route} ${code}`,
        );
      }
    }
    assert.doesNotMatch(text, /method="HEAD"/, "no series for Fastify's implicit HEAD routes");
  } finally {
    await app.close();
  }
});
