import { normalizeReason, type DlqFilter } from "../dlq/entry.js";
import { shellQuote } from "../output.js";
import { usageError, type CommandInput } from "./command.js";
import { durationMs } from "../duration.js";

/** Help lines shared by the commands that select dead letters. */
export const SELECTION_DETAILS = [
  "Selection: --subject matches the original subject (NATS wildcards), --reason the X-Dlq-Reason, --since the",
  "time the DLQ stored the copy, --up-to the DLQ sequence; all given filters must match. Stream names follow",
  "STREAM_DLQ_NAME (default AA_DLQ) and STREAM_DLQ_ADVISORIES_NAME (default AA_DLQ_ADVISORIES).",
];

export function positiveInt(name: string, raw: string | boolean | undefined): number {
  if (typeof raw !== "string" || !/^[1-9][0-9]*$/.test(raw) || !Number.isSafeInteger(Number(raw))) {
    throw usageError(`${name} must be a positive integer, got ${JSON.stringify(raw ?? null)}`);
  }
  return Number(raw);
}

/** `30m`, `2h`, `7d` ago, or an ISO-8601 time (a date alone means its midnight UTC). */
export function sinceMs(raw: string, nowMs = Date.now()): number {
  const relative = durationMs(raw);
  if (relative !== undefined) return nowMs - relative;
  const absolute = /^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9:.]+(Z|[+-][0-9]{2}:?[0-9]{2})?)?$/.test(raw.trim())
    ? Date.parse(raw.trim())
    : Number.NaN;
  if (Number.isNaN(absolute))
    throw usageError(`--since takes a duration (30m, 2h, 7d) or an ISO-8601 time, got ${JSON.stringify(raw)}`);
  return absolute;
}

function subjectOf(raw: string | boolean | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const subject = typeof raw === "string" ? raw.trim() : "";
  const tokens = subject.split(".");
  const bad =
    subject === "" ||
    tokens.some(
      (t, i) =>
        t === "" ||
        /\s/.test(t) ||
        (t.includes(">") && (t !== ">" || i !== tokens.length - 1)) ||
        (t.includes("*") && t !== "*"),
    );
  if (bad)
    throw usageError(
      "--subject must be a subject or pattern such as athlete-ally.hrv.raw-received or " +
        `athlete-ally.>, got ${JSON.stringify(raw)}`,
    );
  return subject;
}

function reasonOf(raw: string | boolean | undefined): string | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== "string" || !/^[a-z_-]+$/i.test(raw.trim()))
    throw usageError(`--reason must be a reason such as schema_invalid or max_deliver, got ${JSON.stringify(raw)}`);
  return normalizeReason(raw);
}

/** The filter the options describe; `defaultLimit` undefined means "all matches". */
export function dlqFilterOf(input: Pick<CommandInput, "options">, defaultLimit: number | undefined): DlqFilter {
  const o = input.options;
  const limit = o.limit === undefined ? defaultLimit : positiveInt("--limit", o.limit);
  const filter: DlqFilter = {
    subject: subjectOf(o.subject),
    reason: reasonOf(o.reason),
    sinceMs: typeof o.since === "string" ? sinceMs(o.since) : undefined,
    upTo: o["up-to"] === undefined ? undefined : positiveInt("--up-to", o["up-to"]),
    limit,
  };
  return Object.fromEntries(Object.entries(filter).filter(([, v]) => v !== undefined)) as DlqFilter;
}

/** At most this many messages per second (default 100). */
export function rateOf(raw: string | boolean | undefined): number {
  if (raw === undefined) return 100;
  if (typeof raw !== "string" || !/^[0-9]+(\.[0-9]+)?$/.test(raw) || Number(raw) <= 0 || Number(raw) > 10_000) {
    throw usageError(
      `--rate must be a number of messages per second, 0 < rate ≤ 10000, got ${JSON.stringify(raw ?? null)}`,
    );
  }
  return Number(raw);
}

/**
 * The purge command that removes exactly what was listed: the same filters, `--since` as an
 * absolute time and `--up-to` the newest listed sequence, so later arrivals are left alone.
 */
export function purgeCommandLine(input: Pick<CommandInput, "options">, filter: DlqFilter, upTo: number): string {
  const parts = ["aa-ops", "dlq", "purge"];
  if (filter.subject !== undefined) parts.push("--subject", shellQuote(filter.subject));
  if (filter.reason !== undefined) parts.push("--reason", filter.reason);
  if (filter.sinceMs !== undefined) parts.push("--since", new Date(filter.sinceMs).toISOString());
  if (filter.limit !== undefined) parts.push("--limit", String(filter.limit));
  parts.push("--up-to", String(upTo));
  const url = input.options["nats-url"];
  if (typeof url === "string") parts.push("--nats-url", shellQuote(url.trim()));
  parts.push("--yes");
  return parts.join(" ");
}
