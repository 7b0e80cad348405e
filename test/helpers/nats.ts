import type { ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, natsAnswers, spawnNatsServer, waitFor } from "@aa/local-stack";

export { freePort };

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
  /** The server's log so far (errors such as permission violations are logged at [ERR]). */
  log(): Promise<string>;
}

export interface NatsServerOptions {
  /** nats-server config (authorization, accounts, tls, ...); listen address, port and store stay the helper's. */
  config?: string;
  /** Extra env of the server process, for `$VARIABLE` references in `config`. */
  env?: Record<string, string>;
}

/**
 * Where a nats-server keeps a durable's delivered/ack state (no account configured: `$G`), for a test
 * that damages it as a crash can.
 */
export const durableStateFile = (storeDir: string, stream: string, durable: string): string =>
  join(storeDir, "jetstream", "$G", "streams", stream, "obs", durable, "o.dat");

/** A nats-server with JetStream of our own, on a random port with a temporary store (and `options.config` if given). */
export async function startNats(options: NatsServerOptions = {}): Promise<PrivateNats> {
  const port = await freePort();
  const storeDir = await mkdtemp(join(tmpdir(), "aa-nats-"));
  const url = `nats://127.0.0.1:${port}`;
  const logFile = join(storeDir, "nats-server.log");
  const configArgs: string[] = [];
  if (options.config !== undefined) {
    await writeFile(join(storeDir, "nats-server.conf"), options.config);
    configArgs.push("-c", join(storeDir, "nats-server.conf"));
  }
  const server: PrivateNats = {
    url,
    port,
    storeDir,
    process: undefined as unknown as ChildProcess,
    async start() {
      const child = spawnNatsServer(port, storeDir, {
        args: [...configArgs, "-l", logFile],
        stdio: ["ignore", "ignore", "pipe"],
        env: { ...process.env, ...options.env },
      });
      server.process = child;
      // A config error is printed on stderr before the log file is opened.
      let stderr = "";
      child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      // Our own child must be the one answering, not another server that took the port first.
      const exited = () => {
        if (child.exitCode !== null)
          throw new Error(`nats-server on port ${port} exited with ${child.exitCode} (port taken?) ${stderr}`);
        return false;
      };
      await waitFor(async () => exited() || (await natsAnswers(url)), {
        timeoutMs: 10_000,
        what: `nats-server on ${url}`,
      });
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
    log: () => readFile(logFile, "utf8").catch(() => ""),
  };
  await server.start();
  return server;
}
