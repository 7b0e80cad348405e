/** Receives each output line (no trailing newline); the entry points pass console.log. */
export type Writer = (line: string) => void;

export const RULE = "=".repeat(60);

/** The runbook's framed header: title, then `Label:  value` rows padded to one column. */
export function header(write: Writer, title: string, rows: readonly [string, string][]): void {
  write(RULE);
  write(title);
  write(RULE);
  for (const [label, value] of rows) write(`${`${label}:`.padEnd(14)}${value}`);
  write(RULE);
  write("");
}

/** The closing frame around one or more summary lines. */
export function footer(write: Writer, lines: readonly string[]): void {
  write("");
  write(RULE);
  for (const line of lines) write(line);
  write(RULE);
}

const SECOND_MS = 1000;
const MINUTE_MS = 60 * SECOND_MS;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

/**
 * A duration as ops people write it: 60s, 2m, 48h, 14d. A unit is used only from two of
 * it upward (days from a week), so the runbook's "48h" and "Ack wait: 60s" come out as written.
 */
export function formatMs(ms: number): string {
  const units: [number, string, number][] = [[DAY_MS, "d", 7], [HOUR_MS, "h", 2], [MINUTE_MS, "m", 2], [SECOND_MS, "s", 1]];
  for (const [size, suffix, minimum] of units) {
    if (ms % size === 0 && ms / size >= minimum) return `${ms / size}${suffix}`;
  }
  return `${ms}ms`;
}

/** JetStream durations are nanoseconds. */
export const formatNanos = (ns: number): string => formatMs(Math.round(ns / 1_000_000));

const DURATION_FIELDS = new Set(["max_age", "duplicate_window", "ack_wait"]);

/** One config value for a "current → desired" line. */
export function formatValue(field: string, value: unknown): string {
  if (value === undefined || value === null || value === "") return "(unset)";
  if (DURATION_FIELDS.has(field) && typeof value === "number") return formatNanos(value);
  if (Array.isArray(value)) return value.join(",");
  return String(value);
}

/** The lines listing each differing field. */
export function fieldLines(fields: readonly { field: string; current: unknown; desired: unknown }[]): string[] {
  return fields.map((f) => `   ${f.field}: ${formatValue(f.field, f.current)} → ${formatValue(f.field, f.desired)}`);
}

/** A short message for an error of any type. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
