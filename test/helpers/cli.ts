import { spawn } from "node:child_process";
import { ROOT } from "./ops-scripts.js";

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built `aa-ops` as an operator would, with a clean env: PATH, HOME and `env` only. */
export function aaOps(args: readonly string[], env: Record<string, string> = {}): Promise<CliRun> {
  return runProcess(process.execPath, [`${ROOT}/tools/ops/dist/cli.js`, ...args], {
    PATH: process.env.PATH ?? "",
    HOME: process.env.HOME ?? "",
    ...env,
  });
}

/** aa-ops's flags that point it at a test stack's NATS, ingest and normalize. */
export function serviceFlags(stack: { nats: { url: string }; ingestUrl: string; normalizeUrl: string }): string[] {
  return ["--nats-url", stack.nats.url, "--ingest-url", stack.ingestUrl, "--normalize-url", stack.normalizeUrl];
}

/** Runs `command` in the repository with exactly `env`, collecting its output and exit code. */
export async function runProcess(command: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<CliRun> {
  const child = spawn(command, args, { cwd: ROOT, env });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
  return { code, stdout, stderr };
}

/** A run for an assertion message. */
export const showRun = (run: CliRun): string =>
  `exit ${run.code}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;
