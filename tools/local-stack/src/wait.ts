import type { ChildProcess } from "node:child_process";
import { SetupError } from "./errors.js";

export interface WaitOptions {
  /** Give up after this long; default 15 000. */
  timeoutMs?: number;
  /** Pause between checks; default 100. */
  intervalMs?: number;
  /** What we wait for, as the error message names it. */
  what?: string;
  /** The process that should make `check` true: give up at once when it has exited. */
  child?: ChildProcess;
}

/** Polls `check` until it returns truthy (a throw counts as not yet); never a fixed sleep. */
export async function waitFor<T>(check: () => T | Promise<T>, options: WaitOptions = {}): Promise<NonNullable<T>> {
  const { timeoutMs = 15_000, intervalMs = 100, what = "condition", child } = options;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (error) {
      last = error;
    }
    if (child && (child.exitCode ?? child.signalCode) !== null)
      throw new SetupError(`${what}: the process exited (code ${child.exitCode})`);
    if (Date.now() > deadline) {
      const reason = last instanceof Error ? `: ${last.message}` : "";
      throw new SetupError(`timed out after ${timeoutMs / 1000} s waiting for ${what}${reason}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
