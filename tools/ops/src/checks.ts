/** PASS: shown to hold. FAIL: shown not to hold. UNKNOWN: the data to judge it is absent (never a pass). */
export type CheckStatus = "PASS" | "FAIL" | "UNKNOWN";

/** One line of a `verify` or `soak-check` report. */
export interface Check {
  /** Heading the check is listed under, e.g. `Streams`. */
  section: string;
  /** What is checked, e.g. `stream AA_CORE_HOT`. */
  name: string;
  status: CheckStatus;
  /** What was seen, in one line. */
  detail: string;
  /** Why it failed or cannot be judged, one reason per line. */
  reasons: string[];
  /** A command that shows more. */
  investigate?: string;
}

export const pass = (section: string, name: string, detail: string): Check => ({
  section,
  name,
  status: "PASS",
  detail,
  reasons: [],
});

/** A check that did not pass: FAIL, or UNKNOWN when it could not be judged; `investigate` says where to look. */
const notPassed =
  (status: "FAIL" | "UNKNOWN") =>
  (section: string, name: string, detail: string, reasons: string[] = [], investigate?: string): Check => ({
    section,
    name,
    status,
    detail,
    reasons,
    ...(investigate === undefined ? {} : { investigate }),
  });

export const fail = notPassed("FAIL");
export const unknown = notPassed("UNKNOWN");

export function countChecks(checks: readonly Check[]): Record<CheckStatus, number> {
  const count = (status: CheckStatus) => checks.filter((c) => c.status === status).length;
  return { PASS: count("PASS"), FAIL: count("FAIL"), UNKNOWN: count("UNKNOWN") };
}

/** True unless anything failed, or anything is unknown and unknowns are not allowed. */
export function checksPassed(checks: readonly Check[], allowUnknown = false): boolean {
  const n = countChecks(checks);
  return n.FAIL === 0 && (n.UNKNOWN === 0 || allowUnknown);
}
