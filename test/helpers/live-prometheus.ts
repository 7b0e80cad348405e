import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./nats.js";
import { waitFor } from "./wait.js";

/** The Debian package's server binary (package `prometheus`, which also brings promtool). */
export const PROMETHEUS_BIN = "/usr/bin/prometheus";

/** One sample of an instant query: its labels and value as Prometheus prints it. */
export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface PromAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: "pending" | "firing";
}

export interface RulesPrometheus {
  url: string;
  /** Everything Prometheus printed, for failure messages. */
  log(): string;
  query(expr: string): Promise<PromSample[]>;
  alerts(): Promise<PromAlert[]>;
  stop(): Promise<void>;
}

async function api<T>(url: string): Promise<T> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  const body = (await response.json()) as { status: string; data: T; error?: string };
  if (body.status !== "success") throw new Error(`${url}: ${body.error ?? response.status}`);
  return body.data;
}

function configText(
  targets: Record<string, string>,
  ruleFiles: string[],
  externalLabels: Record<string, string>,
): string {
  const scrapes = Object.entries(targets).map(
    ([job, target]) => `  - job_name: ${job}\n    static_configs:\n      - targets: ["${target}"]`,
  );
  const labels = Object.entries(externalLabels)
    .map(([name, value]) => `\n    ${name}: ${JSON.stringify(value)}`)
    .join("");
  return [
    `global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  evaluation_interval: 1s${labels ? `\n  external_labels:${labels}` : ""}`,
    `rule_files:\n${ruleFiles.map((file) => `  - ${JSON.stringify(file)}`).join("\n")}`,
    `scrape_configs:\n${scrapes.join("\n")}`,
  ].join("\n");
}

/**
 * A Prometheus of our own on a free loopback port, scraping `targets` (job name → host:port)
 * every second and evaluating `ruleFiles` every second, with its storage in a temporary
 * directory that `stop()` removes.
 */
export async function startRulesPrometheus(options: {
  targets: Record<string, string>;
  ruleFiles: string[];
  externalLabels?: Record<string, string>;
}): Promise<RulesPrometheus> {
  const dir = await mkdtemp(join(tmpdir(), "aa-prom-rules-"));
  const port = await freePort();
  await writeFile(
    join(dir, "prometheus.yml"),
    `${configText(options.targets, options.ruleFiles, options.externalLabels ?? {})}\n`,
  );
  const child: ChildProcess = spawn(
    PROMETHEUS_BIN,
    [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    const killer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(killer);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}:\n${output}`);
        return (await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) })).ok;
      },
      { timeoutMs: 20_000, what: `prometheus on ${url}` },
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    url,
    log: () => output,
    query: async (expr) =>
      (await api<{ result: PromSample[] }>(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`)).result,
    alerts: async () => (await api<{ alerts: PromAlert[] }>(`${url}/api/v1/alerts`)).alerts,
    stop,
  };
}
