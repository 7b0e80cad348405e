import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { freePort } from "../helpers/nats.js";
import { waitFor } from "../helpers/wait.js";

export interface ClusterNode {
  name: string;
  port: number;
  process: ChildProcess;
  start(): Promise<void>;
  kill(): Promise<void>;
}

export interface PrivateCluster {
  nodes: ClusterNode[];
  /** All three client URLs, comma-separated (as NATS_URL). */
  url: string;
  stop(): Promise<void>;
}

/** Three nats-servers (2.9.10 config files, `cluster` block with routes) on loopback, JetStream on each. */
export async function startCluster(): Promise<PrivateCluster> {
  const dir = await mkdtemp(join(tmpdir(), "aa-cluster-"));
  const ports = await Promise.all([0, 1, 2].map(async () => ({ client: await freePort(), route: await freePort() })));
  const nodes = ports.map((p, i): ClusterNode => {
    const name = `n${i + 1}`;
    const config = join(dir, `${name}.conf`);
    const routes = ports
      .filter((_, j) => j !== i)
      .map((o) => `"nats-route://127.0.0.1:${o.route}"`)
      .join(", ");
    const text = `server_name: ${name}\nlisten: 127.0.0.1:${p.client}\njetstream { store_dir: "${join(dir, name)}" }\ncluster { name: aa, listen: 127.0.0.1:${p.route}, routes: [${routes}] }\n`;
    const node: ClusterNode = {
      name,
      port: p.client,
      process: undefined as unknown as ChildProcess,
      async start() {
        await writeFile(config, text);
        node.process = spawn("nats-server", ["-c", config], { stdio: "ignore" });
      },
      async kill() {
        const child = node.process;
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGKILL");
        await exited;
      },
    };
    return node;
  });
  const url = nodes.map((n) => `nats://127.0.0.1:${n.port}`).join(",");
  const cluster: PrivateCluster = {
    nodes,
    url,
    async stop() {
      await Promise.all(nodes.filter((n) => n.process).map((n) => n.kill()));
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    await Promise.all(nodes.map((n) => n.start()));
    // JetStream answers once the meta group has a leader.
    await waitFor(
      async () => {
        const nc = await connect({ servers: url.split(","), reconnect: false, timeout: 1_000 });
        try {
          await (await jetstreamManager(nc)).getAccountInfo();
          return true;
        } finally {
          await nc.close();
        }
      },
      { timeoutMs: 30_000, what: "JetStream meta leader in the cluster" },
    );
  } catch (error) {
    // The caller gets no handle to stop, so a cluster that never came up is stopped here.
    await cluster.stop();
    throw error;
  }
  return cluster;
}
