import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { answers } from "./ports.js";

export interface NatsServerOptions extends SpawnOptions {
  /** Arguments before ours (`-c <config>`, `-l <log>`); address, port, JetStream and store are ours. */
  args?: string[];
}

/** `nats-server` with JetStream on 127.0.0.1:`port`, its store in `storeDir`; see natsAnswers for when it is up. */
export function spawnNatsServer(port: number, storeDir: string, options: NatsServerOptions = {}): ChildProcess {
  const { args = [], ...spawnOptions } = options;
  const ours = ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", storeDir];
  return spawn("nats-server", [...args, ...ours], spawnOptions);
}

/**
 * True once the first server of `url` (a NATS URL list) greets with `INFO {...}`, which every NATS server
 * sends each client before any TLS or authentication.
 */
export function natsAnswers(url: string): Promise<boolean> {
  const { hostname, port } = new URL((url.split(",")[0] ?? url).trim());
  return answers(Number(port || 4222), { host: hostname, greeting: "INFO " });
}
