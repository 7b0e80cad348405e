import { checksPassed, countChecks, type Check, type CheckStatus } from "../checks.js";
import type { Writer } from "../output.js";
import type { CliExitCode } from "./command.js";

const MARK: Record<CheckStatus, string> = { PASS: "✅ PASS   ", FAIL: "❌ FAIL   ", UNKNOWN: "❔ UNKNOWN" };
const INDENT = " ".repeat(12);

/** The checks as text, grouped under their sections in the order they first appear. */
export function writeChecks(write: Writer, checks: readonly Check[]): void {
  let section: string | undefined;
  for (const check of checks) {
    if (check.section !== section) {
      if (section !== undefined) write("");
      section = check.section;
      write(`${section}:`);
    }
    write(`${MARK[check.status]}  ${check.name}: ${check.detail}`);
    for (const reason of check.reasons) write(`${INDENT}- ${reason}`);
    if (check.investigate !== undefined) write(`${INDENT}investigate: ${check.investigate}`);
  }
}

/** `Result: 9 PASS, 1 FAIL, 2 UNKNOWN`. */
export function resultLine(checks: readonly Check[]): string {
  const n = countChecks(checks);
  return `Result: ${n.PASS} PASS, ${n.FAIL} FAIL, ${n.UNKNOWN} UNKNOWN`;
}

/** 1 when anything failed, or anything is unknown and unknowns are not allowed. */
export const checksExitCode = (checks: readonly Check[], allowUnknown = false): CliExitCode =>
  checksPassed(checks, allowUnknown) ? 0 : 1;
