import assert from "node:assert/strict";
import { test } from "node:test";
import { eventBusSettings } from "@aa/event-bus";
import { ConfigError, natsSecurityFromEnv, serviceConfigProperties, tracingSettings } from "@aa/service-kit";
import { loadIngestConfig } from "../../services/ingest/src/config.js";
import { loadNormalizeConfig } from "../../services/normalize/src/config.js";

/** The ConfigError `load` throws; fails the test when it throws anything else or nothing. */
function configError(load: () => unknown): ConfigError {
  try {
    load();
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error;
  }
  assert.fail("expected a ConfigError");
}

test("loadIngestConfig: a bad PORT, EVENT_STREAM_MODE and a too-short secret are reported in one ConfigError", () => {
  const error = configError(() =>
    loadIngestConfig({ PORT: "99999", EVENT_STREAM_MODE: "mutli", OURA_WEBHOOK_SECRET: "too-short-to-guess" }),
  );
  assert.equal(error.problems.length, 3, error.message);
  assert.match(error.message, /^Invalid configuration:\n {2}- /);
  assert.match(error.message, /PORT must be <= 65535, got 99999/);
  assert.match(error.message, /Invalid EVENT_STREAM_MODE="mutli": expected "single" or "multi"/);
  assert.match(error.message, /OURA_WEBHOOK_SECRET must NOT have fewer than 32 characters, got \(hidden\)/);
  assert.ok(!error.message.includes("too-short-to-guess"), "never quotes a secret");
});

test("SHED_HEAP_PERCENT: 85 by default, 0 turns it off, a whole percentage up to 100", () => {
  assert.equal(loadIngestConfig({}).SHED_HEAP_PERCENT, 85);
  assert.equal(loadIngestConfig({ SHED_HEAP_PERCENT: "0" }).SHED_HEAP_PERCENT, 0);
  const error = configError(() => loadIngestConfig({ SHED_HEAP_PERCENT: "120", MAX_EVENT_LOOP_DELAY_MS: "-1" }));
  assert.match(error.message, /SHED_HEAP_PERCENT must be <= 100, got 120/);
  assert.match(error.message, /MAX_EVENT_LOOP_DELAY_MS must be >= 0, got -1/, "reported with the others");
  assert.match(
    configError(() => loadIngestConfig({ SHED_HEAP_PERCENT: "85.5" })).message,
    /SHED_HEAP_PERCENT must be integer, got "85.5"/,
  );
});

test("loadNormalizeConfig: NATS, tracing, logging and Oura problems come with the schema's, at once", () => {
  const error = configError(() =>
    loadNormalizeConfig({
      REPLICAS: "7",
      NATS_USER: "normalize",
      NATS_URL: "nats://user:hunter2@127.0.0.1:4222",
      OTEL_TRACES_EXPORTER: "zipkin",
      LOG_HASH_KEY: "short",
      OURA_CLIENT_ID: "client",
    }),
  );
  const expected = [
    /^REPLICAS must be <= 5, got 7$/,
    /^LOG_HASH_KEY must NOT have fewer than 32 characters, got \(hidden\)$/,
    /^NATS_URL must not carry credentials/,
    /^NATS_USER is set but NATS_PASSWORD is not$/,
    /^OTEL_TRACES_EXPORTER must be otlp or none, got "zipkin"$/,
    /OURA_CLIENT_SECRET/,
  ];
  for (const pattern of expected)
    assert.ok(
      error.problems.some((problem) => pattern.test(problem)),
      `${pattern} in:\n${error.message}`,
    );
  assert.ok(!error.message.includes("hunter2"), "never quotes a URL's password");
});

test("the stream mode is parsed once, with the config, to the mode type", () => {
  assert.equal(loadIngestConfig({}).eventBus.mode, "multi");
  const config = loadNormalizeConfig({ EVENT_STREAM_MODE: " Single ", STREAM_LEGACY_NAME: "OLD_EVENTS" });
  assert.equal(config.eventBus.mode, "single");
  assert.equal(config.eventBus.names.legacy, "OLD_EVENTS");
  assert.equal(config.eventBus.names.core, "AA_CORE_HOT");
  assert.ok(Object.isFrozen(config));
});

test("NATS security and tracing come from the config's env record, not from process.env", () => {
  const saved = { token: process.env.NATS_TOKEN, endpoint: process.env.OTEL_EXPORTER_OTLP_ENDPOINT };
  process.env.NATS_TOKEN = "from-the-process-environment";
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = "http://127.0.0.1:4318";
  try {
    const plain = loadIngestConfig({});
    assert.equal(plain.natsSecurity.method, "none");
    assert.equal(plain.tracing.endpoint, undefined);
    assert.equal(plain.tracing.serviceName, "ingest-service");
    const given = loadIngestConfig({ NATS_USER: "ingest", NATS_PASSWORD: "secret", OTEL_SERVICE_NAME: "edge" });
    assert.equal(given.natsSecurity.method, "user_password");
    assert.equal(given.natsSecurity.description, 'user "ingest" (NATS_USER, NATS_PASSWORD)');
    assert.equal(given.tracing.serviceName, "edge");
  } finally {
    for (const [name, value] of [
      ["NATS_TOKEN", saved.token],
      ["OTEL_EXPORTER_OTLP_ENDPOINT", saved.endpoint],
    ] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
});

test("the services keep their own defaults and settings beside the shared ones", () => {
  const ingest = loadIngestConfig({});
  const normalize = loadNormalizeConfig({});
  assert.equal(ingest.PORT, 4101);
  assert.equal(normalize.PORT, 4102);
  assert.equal(ingest.trustProxy, false);
  assert.equal(ingest.oura, undefined);
  assert.deepEqual([...ingest.auth.methods], ["api-key"]);
  assert.equal(normalize.oura, undefined);
});

test("every variable the shared parsers read is in the shared schema", () => {
  const read = new Set<string>();
  const spy = new Proxy({}, { get: (_target, key) => (typeof key === "string" && read.add(key), undefined) });
  natsSecurityFromEnv(spy);
  tracingSettings(spy, "x");
  eventBusSettings(spy);
  assert.ok(
    ["NATS_CREDS_FILE", "OTEL_TRACES_EXPORTER", "EVENT_STREAM_MODE", "STREAM_CORE_NAME"].every((n) => read.has(n)),
  );
  const schema = new Set(Object.keys(serviceConfigProperties(0)));
  assert.deepEqual(
    [...read].filter((name) => !schema.has(name)),
    [],
  );
});
