import type { MsgHdrs } from "@nats-io/nats-core";

// Everything aa-ops and the runbook scripts print goes through here: frames, tables, JSON, durations, sizes.

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
  const units: [number, string, number][] = [
    [DAY_MS, "d", 7],
    [HOUR_MS, "h", 2],
    [MINUTE_MS, "m", 2],
    [SECOND_MS, "s", 1],
  ];
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

/** Writes a value as indented JSON: what `--json` prints, so `jq` sees the server's fields. */
export function writeJson(write: Writer, value: unknown): void {
  write(JSON.stringify(value, null, 2));
}

/**
 * `Label: value` rows with the labels right-aligned, as natscli prints them, so a line
 * such as `Ack Wait: 60s` reads (and greps) the way the runbook quotes it.
 */
export function rows(write: Writer, entries: readonly [string, string][]): void {
  const width = Math.max(0, ...entries.map(([label]) => label.length));
  for (const [label, value] of entries) write(`  ${label.padStart(width)}: ${value}`);
}

/** A plain table: a header row, then one row per item, columns padded to the widest cell. */
export function table(write: Writer, headings: readonly string[], body: readonly (readonly string[])[]): void {
  const widths = headings.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  write(line(headings));
  for (const row of body) write(line(row));
}

/** A value as a POSIX shell word: bare when safe, else single-quoted, for commands we print to be pasted. */
export const shellQuote = (value: string): string =>
  /^[A-Za-z0-9_.:,/@%+=-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;

/** A JetStream duration (nanoseconds); 0 means no limit for ages. */
export function formatDuration(ns: number | undefined, zero = "unlimited"): string {
  if (ns === undefined || ns <= 0) return zero;
  return formatNanos(ns);
}

/** A JetStream limit where -1 (or 0 for some fields) means none. */
export function formatLimit(value: number | undefined): string {
  return value === undefined || value < 0 ? "unlimited" : String(value);
}

const BYTE_UNITS = ["B", "KiB", "MiB", "GiB", "TiB"] as const;

/** 512 B, 1.5 KiB, 3.2 MiB. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${BYTE_UNITS[unit]}`;
}

/** Message headers as one record; repeated values of a key are joined with ", ". */
export function headerRecord(headers: MsgHdrs | undefined): Record<string, string> {
  const record: Record<string, string> = {};
  if (headers === undefined) return record;
  for (const key of headers.keys()) record[key] = headers.values(key).join(", ");
  return record;
}

/** A payload for reading: indented JSON when it parses as JSON, else the UTF-8 text. */
export function payloadLines(text: string): string[] {
  if (text === "") return ["(empty)"];
  try {
    return JSON.stringify(JSON.parse(text), null, 2).split("\n");
  } catch {
    return text.split("\n");
  }
}

/** `a, b, c`, or a placeholder for none. */
export const list = (items: readonly string[] | undefined, none = "(none)"): string =>
  items && items.length > 0 ? items.join(", ") : none;
