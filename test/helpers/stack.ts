import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import {
  applyPlan,
  DEFAULT_TOPOLOGY_NAMES,
  planTopology,
  readTopology,
  topologyFor,
  unfinished,
  type StreamMode,
} from "@aa/event-bus";
import { freePort, startNats, type PrivateNats } from "./nats.js";
import { createTestSchema, type TestSchema } from "./postgres.js";
import { baseUrl, startService, type RunningService } from "./service.js";

/** Creates the mode's streams and all three durables, as the ops scripts would. */
export async function applyTopology(jsm: JetStreamManager, mode: StreamMode): Promise<void> {
  const plan = planTopology(await readTopology(jsm), topologyFor(mode, DEFAULT_TOPOLOGY_NAMES, 1));
  const left = unfinished(await applyPlan(jsm, plan));
  if (left.length > 0)
    throw new Error(`topology not applied: ${left.map((o) => `${o.change.kind} ${o.result}`).join(", ")}`);
}

export interface Stack {
  nats: PrivateNats;
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  db: TestSchema;
  ingest?: RunningService;
  normalize?: RunningService;
  ingestUrl: string;
  normalizeUrl: string;
  env: Record<string, string>;
  startIngest(extra?: Record<string, string>): Promise<RunningService>;
  startNormalize(extra?: Record<string, string>): Promise<RunningService>;
  close(): Promise<void>;
}

/** A private nats-server, a schema of its own, and the services on free ports. */
export async function createStack(options: {
  mode: StreamMode;
  topology?: boolean;
  databaseUrl?: string;
  natsUser?: { user: string; password: string };
}): Promise<Stack> {
  // With natsUser the server requires that user (password auth); the test's client and the services log in as it.
  const login = options.natsUser;
  const nats = await startNats(
    login ? { config: `authorization { user: "${login.user}", password: "${login.password}" }` } : {},
  );
  const nc = await connect({
    servers: nats.url,
    maxReconnectAttempts: -1,
    ...(login && { user: login.user, pass: login.password }),
  });
  const jsm = await jetstreamManager(nc);
  if (options.topology !== false) await applyTopology(jsm, options.mode);
  const db = await createTestSchema(options.databaseUrl);
  const [ingestPort, normalizePort] = [String(await freePort()), String(await freePort())];
  // A short retry budget: nak delays of 0.2, 0.4, 0.8, 1.6 s instead of minutes.
  const env: Record<string, string> = {
    NATS_URL: nats.url,
    EVENT_STREAM_MODE: options.mode,
    DATABASE_URL: db.url,
    DATABASE_SCHEMA: db.schema,
    HOST: "127.0.0.1",
    RETRY_BUDGET_MS: "3000",
    ...(login && { NATS_USER: login.user, NATS_PASSWORD: login.password }),
  };
  const started: RunningService[] = [];
  const stack: Stack = {
    nats,
    nc,
    js: jetstream(nc),
    jsm,
    db,
    env,
    ingestUrl: baseUrl(ingestPort),
    normalizeUrl: baseUrl(normalizePort),
    async startIngest(extra = {}) {
      stack.ingest = startService("ingest", { ...env, PORT: ingestPort, ...extra });
      started.push(stack.ingest);
      await stack.ingest.waitForLog("[ingest] Listening on");
      return stack.ingest;
    },
    async startNormalize(extra = {}) {
      stack.normalize = startService("normalize", { ...env, PORT: normalizePort, ...extra });
      started.push(stack.normalize);
      await stack.normalize.waitForLog("[normalize] Listening on");
      return stack.normalize;
    },
    async close() {
      // Every service this stack started, also those a failed test left running.
      await Promise.all(started.map((service) => service.stop()));
      await nc.close();
      await nats.stop();
      await db.drop();
    },
  };
  return stack;
}

export async function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return {
    status: response.status,
    body: (await response.json()) as Record<string, unknown>,
    headers: response.headers,
  };
}

export async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Messages in a stream, or only those on one subject (so unrelated announcements cannot race a count). */
export async function streamMessages(jsm: JetStreamManager, stream: string, subject?: string): Promise<number> {
  if (subject === undefined) return (await jsm.streams.info(stream)).state.messages;
  const info = await jsm.streams.info(stream, { subjects_filter: subject });
  return info.state.subjects?.[subject] ?? 0;
}

/**
 * A stack with both services running as deployed: the topology is applied beforehand (as the ops tool
 * would) and the services only bind to it (FEATURE_SERVICE_MANAGES_* off).
 */
export async function startBoundPipeline(mode: StreamMode): Promise<Stack> {
  const stack = await createStack({ mode });
  await stack.startNormalize({ FEATURE_SERVICE_MANAGES_STREAMS: "false", FEATURE_SERVICE_MANAGES_CONSUMERS: "false" });
  await stack.startIngest();
  return stack;
}
