import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { after, before, beforeEach } from "node:test";
import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { startNats, type PrivateNats } from "./nats.js";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface ScriptRun {
  code: number | null;
  /** stdout and stderr, interleaved as they arrived. */
  out: string;
}

/**
 * Runs a runbook entry point (`docs/phase-3/ops/<script>.js`) as the ops team would, with a
 * clean env: only PATH, HOME and what the test passes, so the runner's own env cannot leak in.
 */
export async function runOpsScript(
  script: "create-streams" | "create-consumers",
  env: Record<string, string>,
  cwd = ROOT,
): Promise<ScriptRun> {
  const child = spawn(process.execPath, [`${ROOT}/docs/phase-3/ops/${script}.js`], {
    cwd,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
  });
  let out = "";
  child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (out += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
  return { code, out };
}

// Every JetStream API request that changes topology. A plain subscriber sees the requests
// themselves, so a test can prove "nothing was sent", not just "the output says so".
const MUTATING_APIS = [
  "$JS.API.STREAM.CREATE.>",
  "$JS.API.STREAM.UPDATE.>",
  "$JS.API.STREAM.DELETE.>",
  "$JS.API.CONSUMER.CREATE.>",
  "$JS.API.CONSUMER.DURABLE.CREATE.>",
  "$JS.API.CONSUMER.DELETE.>",
];

/** Records the subjects of topology-changing API requests until `stop()`. */
export function watchMutations(nc: NatsConnection): { seen: string[]; stop(): Promise<string[]> } {
  const seen: string[] = [];
  const subs: Subscription[] = MUTATING_APIS.map((subject) =>
    nc.subscribe(subject, { callback: (_err, msg) => void seen.push(msg.subject) }),
  );
  return {
    seen,
    async stop() {
      await nc.flush();
      for (const sub of subs) sub.unsubscribe();
      return seen;
    },
  };
}

/** Deletes every stream (and so its consumers): each scenario starts from an empty server. */
export async function deleteAllStreams(jsm: JetStreamManager): Promise<void> {
  const names: string[] = [];
  for await (const name of jsm.streams.names()) names.push(name);
  for (const name of names) await jsm.streams.delete(name);
}

export async function streamNames(jsm: JetStreamManager): Promise<string[]> {
  const names: string[] = [];
  for await (const name of jsm.streams.names()) names.push(name);
  return names.sort();
}

export async function consumerNames(jsm: JetStreamManager, stream: string): Promise<string[]> {
  const names: string[] = [];
  for await (const info of jsm.consumers.list(stream)) names.push(info.name);
  return names.sort();
}

/** The file's private nats-server and a connection to it; filled in by `before`. */
export interface EmptyJetStream {
  server: PrivateNats;
  nc: NatsConnection;
  jsm: JetStreamManager;
}

/** Registers the hooks of a test file whose every test starts from a server without streams. */
export function emptyJetStreamPerTest(): EmptyJetStream {
  const nats = {} as EmptyJetStream;
  before(async () => {
    nats.server = await startNats();
    nats.nc = await connect({ servers: nats.server.url });
    nats.jsm = await jetstreamManager(nats.nc);
  });
  after(async () => {
    await nats.nc?.close();
    await nats.server?.stop();
  });
  beforeEach(() => deleteAllStreams(nats.jsm));
  return nats;
}
