import type { ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { DEFAULT_TOPOLOGY_NAMES, type TopologyNames } from "@aa/event-bus";
import { startNats, type PrivateNats } from "../test/helpers/nats.js";
import { createTestSchema, type TestSchema } from "../test/helpers/postgres.js";
import { applyTopology } from "../test/helpers/stack.js";

/** Undo steps run last-in first-out, once, whether the bench finished, failed or was interrupted. */
export class Cleanup {
  #steps: Array<{ what: string; run: () => Promise<unknown> }> = [];
  #ran = false;
  #children = new Set<ChildProcess>();
  #dirs = new Set<string>();

  constructor() {
    // Last resort when the process exits without running the steps: no child or temp dir outlives the bench.
    process.once("exit", () => {
      for (const child of this.#children)
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      for (const dir of this.#dirs) rmSync(dir, { recursive: true, force: true });
    });
  }

  add(what: string, run: () => Promise<unknown>): void {
    this.#steps.push({ what, run });
  }

  /** A child process to SIGKILL, and a temp dir to remove, should the bench exit before its steps ran. */
  guard(child: ChildProcess | undefined, dir?: string): void {
    if (child) this.#children.add(child);
    if (dir !== undefined) this.#dirs.add(dir);
  }

  /** Runs every step even when one fails; returns the failures as text. */
  async runAll(): Promise<string[]> {
    if (this.#ran) return [];
    this.#ran = true;
    const failures: string[] = [];
    for (const step of this.#steps.reverse()) {
      await step.run().catch((error: unknown) => failures.push(`${step.what}: ${(error as Error).message}`));
    }
    return failures;
  }
}

/** What every measurement shares: a private nats-server with the multi topology, and a schema of its own. */
export interface BenchEnv {
  nats: PrivateNats;
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  db: TestSchema;
  names: TopologyNames;
  /** The environment every service process gets. */
  serviceEnv: Record<string, string>;
}

/**
 * Starts nats-server (temp store, free port), applies the multi topology and creates the schema; registers their
 * teardown.
 */
export async function createBenchEnv(databaseUrl: string, cleanup: Cleanup): Promise<BenchEnv> {
  const nats = await startNats();
  cleanup.guard(nats.process, nats.storeDir);
  cleanup.add("stop nats-server and remove its store", () => nats.stop());
  const nc = await connect({ servers: nats.url, maxReconnectAttempts: -1 });
  cleanup.add("close the bench's NATS connection", () => nc.close());
  const jsm = await jetstreamManager(nc);
  await applyTopology(jsm, "multi");
  const db = await createTestSchema(databaseUrl);
  cleanup.add(`drop schema ${db.schema}`, () => db.drop());
  const serviceEnv = {
    NATS_URL: nats.url,
    DATABASE_URL: db.url,
    DATABASE_SCHEMA: db.schema,
    HOST: "127.0.0.1",
    LOG_LEVEL: "warn",
    EVENT_STREAM_MODE: "multi",
  };
  return { nats, nc, js: jetstream(nc), jsm, db, names: DEFAULT_TOPOLOGY_NAMES, serviceEnv };
}

/**
 * The HRV durable's state: messages not yet delivered, delivered but not acknowledged, and deliveries made so far
 * (redeliveries included).
 */
export async function hrvBacklog(env: BenchEnv): Promise<{ pending: number; ackPending: number; deliveries: number }> {
  const info = await env.jsm.consumers.info(env.names.core, env.names.hrvDurable);
  return { pending: info.num_pending, ackPending: info.num_ack_pending, deliveries: info.delivered.consumer_seq };
}
