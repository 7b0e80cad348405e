import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { waitFor } from "./wait.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface RunningService {
  name: string;
  process: ChildProcess;
  /** Every log line so far (JSON records as printed). */
  lines: string[];
  /** Messages (`msg`) of the JSON log records. */
  messages(): string[];
  waitForLog(text: string | RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

// Most tests (and the bench) drive the pipeline, not its front door: ingest runs without
// authentication and rate limits unless a test sets them (test/ingest-auth.test.ts does).
const DEFAULTS: Record<"ingest" | "normalize", Record<string, string>> = {
  ingest: { INGEST_AUTH_MODE: "none", RATE_LIMIT_MAX: "0" },
  normalize: {},
};

/**
 * Starts a built service (`services/<name>/dist/main.js`) with only the env given plus PATH; `nodeFlags` go to node
 * before the script (`--max-old-space-size=96`).
 */
export function startService(
  name: "ingest" | "normalize",
  env: Record<string, string>,
  options: { nodeFlags?: readonly string[] } = {},
): RunningService {
  const args = [...(options.nodeFlags ?? []), `services/${name}/dist/main.js`];
  return startNodeProgram(name, args, { ...DEFAULTS[name], ...env });
}

/** Runs `node <args>` in the repository with only the env given plus PATH, collecting its log lines. */
export function startNodeProgram(name: string, args: string[], env: Record<string, string>): RunningService {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const collect = (chunk: Buffer) => lines.push(...chunk.toString().split("\n").filter(Boolean));
  child.stdout.on("data", collect);
  child.stderr.on("data", collect);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const messages = () =>
    lines.map((line) => {
      try {
        return String((JSON.parse(line) as { msg?: unknown }).msg ?? line);
      } catch {
        return line;
      }
    });
  return {
    name,
    process: child,
    lines,
    messages,
    exited,
    async waitForLog(text, timeoutMs = 15_000) {
      const matches = (m: string) => (typeof text === "string" ? m.includes(text) : text.test(m));
      return await waitFor(() => messages().find(matches), {
        timeoutMs,
        what: `${name} log ${String(text)}\n--- log:\n${lines.join("\n")}`,
      });
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      try {
        return await exited;
      } finally {
        clearTimeout(killer);
      }
    },
  };
}

/** The HTTP port a service listens on, from its env. */
export const baseUrl = (port: string) => `http://127.0.0.1:${port}`;
