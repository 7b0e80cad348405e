import { fail, pass, unknown, type Check } from "../checks.js";
import { seriesLabel, type Sample } from "../prometheus.js";

/** The window judged: `--since` back from `end`. */
export interface SoakWindow {
  /** As given, e.g. `48h`. */
  text: string;
  seconds: number;
  start: Date;
  end: Date;
}

/** Where the numbers come from: Prometheus range queries over the window, or one scrape of each service. */
export type SoakSource = "prometheus" | "scrape";

/** A value, or why it could not be read. */
export type Read<T> = T | Error;

const SECTION = "Success Criteria (runbook)";
const PROMETHEUS_NEEDED =
  "needs --prometheus-url: a single scrape shows the present and counters since one instance started, not the window";

const FALLBACK = "No fallback binding";
const SUCCESSES = "100% of successes on the target stream";
const DLQ = "DLQ not spiking (< 10/min)";
const ROWS = "No missing rows";
const RESTARTS = "No restarts";

/** Where each durable must be bound in this mode (undefined: not a durable of this topology). */
export type ExpectedStream = (durable: string) => string | undefined;

/**
 * event_bus_consumer_bound: from Prometheus, every binding seen in the window
 * (max_over_time); from a scrape, only the bindings now.
 */
export function judgeBindings(bound: Read<Sample[]>, expected: ExpectedStream, source: SoakSource): Check {
  if (bound instanceof Error) return unknown(SECTION, FALLBACK, bound.message);
  const seen = bound.filter((s) => s.value >= 1);
  const wrong = seen.filter((s) => s.labels.role !== "primary" || s.labels.stream !== expected(s.labels.durable ?? ""));
  const describe = (s: Sample) =>
    `${s.labels.durable} ${s.labels.role} on ${s.labels.stream}${s.labels.instance ? ` (${s.labels.instance})` : ""}`;
  if (wrong.length > 0) {
    const reasons = wrong.map(
      (s) => `${describe(s)}; expected primary on ${expected(s.labels.durable ?? "") ?? "(no stream of this mode)"}`,
    );
    return fail(
      SECTION,
      FALLBACK,
      `${source === "prometheus" ? "in the window" : "now"}: bound off the mode's streams`,
      reasons,
      "aa-ops status",
    );
  }
  if (seen.length === 0)
    return unknown(SECTION, FALLBACK, "no event_bus_consumer_bound series: no binding data (absent is not success)");
  const bindings = [...new Set(seen.map(describe))].join(", ");
  if (source === "prometheus")
    return pass(SECTION, FALLBACK, `only primary bindings on the mode's streams in the window: ${bindings}`);
  return unknown(SECTION, FALLBACK, `now: ${bindings}; whether it fell back earlier in the window is not known`, [
    PROMETHEUS_NEEDED,
  ]);
}

/** When the scraped process started (seconds), to tell whether its counters cover the window. */
export interface ScrapeScope {
  startedAt: number | undefined;
}

function perStream(samples: readonly Sample[]): Map<string, number> {
  const by = new Map<string, number>();
  for (const s of samples) by.set(s.labels.stream ?? "?", (by.get(s.labels.stream ?? "?") ?? 0) + s.value);
  return by;
}

/** normalize_hrv_messages_total{result="success"} per stream: all of it on the target stream. */
export function judgeSuccesses(
  successes: Read<Sample[]>,
  target: string,
  window: SoakWindow,
  scope: ScrapeScope | undefined,
): Check {
  if (successes instanceof Error) return unknown(SECTION, SUCCESSES, successes.message);
  const by = perStream(successes);
  const total = Math.round([...by.values()].reduce((a, b) => a + b, 0));
  const onTarget = Math.round(by.get(target) ?? 0);
  const split = [...by].map(([stream, n]) => `${stream} ${Math.round(n)}`).join(", ");
  if (total === 0)
    return unknown(SECTION, SUCCESSES, "no successful HRV messages counted: nothing to judge (absent is not success)");
  const all = onTarget === total;
  if (scope === undefined) {
    return all
      ? pass(SECTION, SUCCESSES, `100% of ${total} on ${target} in the window`)
      : fail(
          SECTION,
          SUCCESSES,
          `${((100 * onTarget) / total).toFixed(1)}% on ${target}: ${split}`,
          [],
          "aa-ops status",
        );
  }
  const covers = scope.startedAt !== undefined && scope.startedAt <= window.start.getTime() / 1000;
  const since =
    scope.startedAt === undefined
      ? "since it started"
      : `since it started at ${new Date(scope.startedAt * 1000).toISOString()}`;
  if (all && covers)
    return pass(SECTION, SUCCESSES, `100% of ${total} on ${target} ${since} (before the window; this instance only)`);
  if (!all && !covers && scope.startedAt !== undefined)
    return fail(SECTION, SUCCESSES, `${split} ${since}, inside the window`, [], "aa-ops status");
  return unknown(SECTION, SUCCESSES, `${split} ${since}`, [PROMETHEUS_NEEDED]);
}

const SPIKE_PER_MINUTE = 10;

/**
 * Messages that entered the DLQ stream in the window (from the stream itself); fewer than 10
 * in all means no minute reached 10. Otherwise the peak per-minute rate needs Prometheus
 * (`peakPerMinute`: undefined without Prometheus, null when it has no series).
 */
export function judgeDlq(
  stream: string,
  entered: Read<number>,
  peakPerMinute: Read<number | null> | undefined,
  window: SoakWindow,
): Check {
  if (entered instanceof Error)
    return unknown(SECTION, DLQ, `cannot count ${stream} messages in the window: ${entered.message}`);
  const investigate = `aa-ops stream ls; aa-ops stream get ${stream} <seq>`;
  const counted = `${entered} message(s) entered ${stream} in the last ${window.text}`;
  if (entered < SPIKE_PER_MINUTE)
    return pass(SECTION, DLQ, `${counted}: fewer than ${SPIKE_PER_MINUTE}, so no minute reached ${SPIKE_PER_MINUTE}`);
  const average = entered / Math.max(1, window.seconds / 60);
  if (average >= SPIKE_PER_MINUTE)
    return fail(SECTION, DLQ, `${counted}: ${average.toFixed(1)}/min on average`, [], investigate);
  if (peakPerMinute === undefined)
    return unknown(SECTION, DLQ, `${counted}; whether any minute reached ${SPIKE_PER_MINUTE}`, [PROMETHEUS_NEEDED]);
  if (peakPerMinute instanceof Error) return unknown(SECTION, DLQ, counted, [peakPerMinute.message]);
  if (peakPerMinute === null)
    return unknown(SECTION, DLQ, `${counted}; dlq_messages_total has no series to find the peak minute`);
  const peak = `peak ${peakPerMinute.toFixed(1)}/min (dlq_messages_total)`;
  return peakPerMinute < SPIKE_PER_MINUTE
    ? pass(SECTION, DLQ, `${counted}, ${peak}`)
    : fail(SECTION, DLQ, `${counted}, ${peak}`, [], investigate);
}

/** Accepted readings (ingest) vs rows written (hrv_data) in the window. */
export interface RowCounts {
  accepted: Read<Sample[]>;
  duplicates: Read<Sample[]>;
  /** Fewest samples any accepted-counter series has in the window (null: none). */
  samples: Read<number | null>;
  rows: Read<number>;
  tolerancePercent: number;
}

const sum = (samples: readonly Sample[]): number => Math.round(samples.reduce((a, s) => a + s.value, 0));

/**
 * increase() extrapolates up to 1.1 average sample intervals past each end of the samples it
 * has, so with k samples it can read up to 2.2/(k−1) high (a lot on a short window). Rows are
 * compared with this lower bound, so an extrapolation is never reported as missing rows.
 */
export const acceptedAtLeast = (n: number, k: number): number => Math.floor(n / (1 + 2.2 / Math.max(1, k - 1)));

export function judgeRows(counts: RowCounts | undefined): Check {
  if (counts === undefined)
    return unknown(SECTION, ROWS, "accepted readings over the window are not known", [PROMETHEUS_NEEDED]);
  const { accepted, rows } = counts;
  if (accepted instanceof Error) return unknown(SECTION, ROWS, accepted.message);
  if (rows instanceof Error) return unknown(SECTION, ROWS, `cannot count hrv_data rows: ${rows.message}`);
  if (accepted.length === 0)
    return unknown(
      SECTION,
      ROWS,
      'no event_bus_events_published_total{topic="hrv_raw_received",status="success"} series in the window',
    );
  const n = sum(accepted);
  if (n === 0) return unknown(SECTION, ROWS, "no reading was accepted in the window: nothing to compare");
  const duplicates = counts.duplicates instanceof Error ? "?" : String(sum(counts.duplicates));
  const k = counts.samples instanceof Error || counts.samples === null ? 2 : counts.samples;
  const low = acceptedAtLeast(n, k);
  const allowed = Math.max(2, Math.ceil((low * counts.tolerancePercent) / 100));
  const detail =
    `${n} readings accepted (increase(); at least ${low} over ${k} samples; ` +
    `${duplicates} duplicate publishes not counted), ${rows} hrv_data rows written in the window`;
  if (low - rows <= allowed) return pass(SECTION, ROWS, detail);
  const reasons = [
    `${low - rows} missing, more than the tolerance of ${allowed} (--tolerance ${counts.tolerancePercent}%)`,
    "readings of one user and day share a row, and readings accepted in the last seconds may still be in flight",
  ];
  return fail(SECTION, ROWS, detail, reasons, "aa-ops status (pending?), then the runbook's per-minute hrv_data query");
}

/** One process: who it is and when it started (seconds since the epoch). */
export interface ProcessStart {
  who: string;
  startedAt: number;
}

/**
 * process_start_time_seconds: a process that started inside the window restarted (or is a
 * new pod). From Prometheus also `up == 0` (a scrape failed: down or crash looping).
 */
export function judgeRestarts(
  starts: Read<ProcessStart[]>,
  down: Read<string[]>,
  window: SoakWindow,
  source: SoakSource,
): Check {
  if (starts instanceof Error) return unknown(SECTION, RESTARTS, starts.message);
  if (starts.length === 0)
    return unknown(SECTION, RESTARTS, "no process_start_time_seconds series: no data (absent is not success)");
  const windowStart = window.start.getTime() / 1000;
  const late = starts.filter((s) => s.startedAt > windowStart);
  const at = (s: ProcessStart) => `${s.who} started at ${new Date(s.startedAt * 1000).toISOString()}`;
  const downs = down instanceof Error ? [] : down;
  if (late.length > 0 || downs.length > 0) {
    const reasons = [
      ...late.map((s) => `${at(s)}, inside the window`),
      ...downs.map((who) => `${who} was down (up == 0) in the window`),
    ];
    return fail(
      SECTION,
      RESTARTS,
      `${late.length} process(es) started in the last ${window.text}, ${downs.length} down`,
      reasons,
    );
  }
  const scope = source === "scrape" ? " (a single scrape sees one instance of each service)" : "";
  const detail = `${starts.map(at).join("; ")}: before the window${scope}`;
  return down instanceof Error ? unknown(SECTION, RESTARTS, detail, [down.message]) : pass(SECTION, RESTARTS, detail);
}

/** The `instance`/`job` of a series, to name a process in a reason. */
export const processName = (labels: Record<string, string>): string =>
  [labels.job, labels.instance].filter(Boolean).join(" ") || seriesLabel(labels);
