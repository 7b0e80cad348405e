import { spawn, spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./nats.js";
import { waitFor } from "./wait.js";

/** True when a `prometheus` binary is on PATH (Debian package `prometheus`). */
export const prometheusAvailable = (): boolean =>
  spawnSync("prometheus", ["--version"], { stdio: "ignore" }).status === 0;

export interface PrivatePrometheus {
  url: string;
  /** Runs an instant query; the samples of the resulting vector. */
  query(promql: string): Promise<{ metric: Record<string, string>; value: number }[]>;
  stop(): Promise<void>;
}

/** A Prometheus of our own on a random port, scraping each job's `host:port` every second. */
export async function startPrometheus(jobs: Record<string, string>): Promise<PrivatePrometheus> {
  const dir = await mkdtemp(join(tmpdir(), "aa-prom-"));
  const port = await freePort();
  const scrapes = Object.entries(jobs).map(
    ([job, target]) => `  - job_name: ${job}\n    static_configs:\n      - targets: ["${target}"]`,
  );
  await writeFile(
    join(dir, "prometheus.yml"),
    `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n${scrapes.join("\n")}\n`,
  );
  const child = spawn(
    "prometheus",
    [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: "ignore" },
  );
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${url}/-/ready`)).status === 200, {
    timeoutMs: 20_000,
    what: "prometheus ready",
  });
  return {
    url,
    async query(promql) {
      const body = (await (await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: promql })}`)).json()) as {
        data: { result: { metric: Record<string, string>; value: [number, string] }[] };
      };
      return body.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
    },
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
