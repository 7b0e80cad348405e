import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { waitFor } from "./wait.js";

/** A free loopback TCP port (tiny race between close and reuse; fine for tests). */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface PrivateNats {
  url: string;
  port: number;
  storeDir: string;
  process: ChildProcess;
  /** SIGKILL then start again on the same port and store. */
  restart(): Promise<void>;
  kill(signal?: NodeJS.Signals): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

async function answers(url: string): Promise<boolean> {
  try {
    const nc = await connect({ servers: url, reconnect: false, timeout: 500 });
    await nc.close();
    return true;
  } catch {
    return false;
  }
}

/** A nats-server with JetStream of our own, on a random port with a temporary store. */
export async function startNats(): Promise<PrivateNats> {
  const port = await freePort();
  const storeDir = await mkdtemp(join(tmpdir(), "aa-nats-"));
  const url = `nats://127.0.0.1:${port}`;
  const server: PrivateNats = {
    url,
    port,
    storeDir,
    process: undefined as unknown as ChildProcess,
    async start() {
      const child = spawn("nats-server", ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", storeDir], { stdio: "ignore" });
      server.process = child;
      // Our own child must be the one answering, not another server that took the port first.
      const exited = () => {
        if (child.exitCode !== null) throw new Error(`nats-server on port ${port} exited with ${child.exitCode} (port taken?)`);
        return false;
      };
      await waitFor(async () => exited() || (await answers(url)), { timeoutMs: 10_000, what: `nats-server on ${url}` });
    },
    async kill(signal = "SIGKILL") {
      const child = server.process;
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill(signal);
      await exited;
    },
    async restart() {
      await server.kill();
      await server.start();
    },
    async stop() {
      await server.kill("SIGTERM");
      await rm(storeDir, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}
