import { errorMessage, type Writer } from "./output.js";
import type { OpsEnv } from "./settings.js";

/** A process exit code: 0 when everything is as desired, 1 otherwise. */
export type ExitCode = 0 | 1;

/** What an ops script needs from its process; nothing else is read from globals. */
export interface OpsRunOptions {
  /** Env-like settings (NATS_URL, DRY_RUN, EVENT_STREAM_MODE, ...); the entry points pass process.env. */
  env: OpsEnv;
  /** Receives each output line without a trailing newline; the entry points pass console.log. */
  write: Writer;
}

/** Runs a settings loader; on a bad setting writes every problem and returns undefined. */
export function loadOrReport<T>(load: () => T, write: Writer): T | undefined {
  try {
    return load();
  } catch (error) {
    const [first = "", ...rest] = errorMessage(error).split("\n");
    write(`❌ ${first}`);
    for (const line of rest) write(line);
    return undefined;
  }
}

export const yesNo = (value: boolean): string => (value ? "YES" : "NO");
