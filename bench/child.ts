import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { waitFor } from "../test/helpers/wait.js";
import type { Cleanup } from "./env.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** A bench script running as a child process (its own event loop, as a service has). */
export interface BenchChild {
  pid: number | undefined;
  /** SIGTERM, then resolves once it has exited; a no-op when it already has. */
  stop(): Promise<void>;
}

/**
 * Starts `node --import tsx <script> ...args` with `env` added to the bench's own, registers its
 * teardown, and waits for `health` (a URL answering 200) when given.
 */
export async function startBenchChild(
  what: string,
  script: string,
  options: { args?: string[]; env: Record<string, string>; health?: string; cleanup: Cleanup },
): Promise<BenchChild> {
  const child = spawn(process.execPath, ["--import", "tsx", script, ...(options.args ?? [])], {
    cwd: ROOT,
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "ignore", "inherit"],
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited;
  };
  options.cleanup.guard(child);
  options.cleanup.add(`stop the ${what}`, stop);
  const { health } = options;
  if (health !== undefined)
    await waitFor(async () => (await fetch(health, { signal: AbortSignal.timeout(2_000) })).ok, {
      timeoutMs: 20_000,
      what,
    });
  return { pid: child.pid, stop };
}
