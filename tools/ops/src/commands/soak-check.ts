import { randomBytes } from "node:crypto";
import { Subjects } from "@aa/contracts";
import { isNotFound, owningStream, topologyNamesFromEnv, type Topology, type TopologyNames } from "@aa/event-bus";
import { AckPolicy, DeliverPolicy, type JetStreamManager } from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import { checksExitCode, countChecks, resultLine, writeChecks, type Check } from "../checks.js";
import { durationMs } from "../duration.js";
import { errorMessage, footer, header, writeJson, type Writer } from "../output.js";
import { prometheusConfigYaml, queryPrometheus, samplesOf, scrape, type Sample } from "../prometheus.js";
import { usageError, type CliExitCode, type Command, type CommandInput } from "./command.js";
import {
  DATABASE_OPTIONS,
  databaseTargetOf,
  describeDatabase,
  expectedTopology,
  ingestUrlOf,
  MODE_OPTIONS,
  normalizeUrlOf,
  openDatabase,
  SERVICE_OPTIONS,
  type DatabaseTarget,
} from "./service-options.js";
import {
  judgeBindings,
  judgeDlq,
  judgeRestarts,
  judgeRows,
  judgeSuccesses,
  processName,
  type ProcessStart,
  type Read,
  type SoakWindow,
} from "../soak/criteria.js";
import { NAMESPACE_PATTERN, soakQueries } from "../soak/queries.js";
import { runbookLinkWarning } from "../soak/runbook-links.js";

const HRV = Subjects.hrvRawReceived;
const DEFAULT_SELECTOR = 'job=~"ingest-service|normalize-service"';
const NOT_JUDGED = "E2E tests pass consistently (10 consecutive runs over 24 h): run `aa-ops verify` on a schedule";

/** Prometheus and the scope of its queries (namespace undefined: every namespace it scrapes). */
interface PrometheusSource {
  url: string;
  selector: string;
  namespace: string | undefined;
}

interface SoakTarget {
  topology: Topology;
  names: TopologyNames;
  since: { text: string; seconds: number };
  prometheus: PrometheusSource | undefined;
  ingestUrl: string;
  normalizeUrl: string;
  database: DatabaseTarget;
  tolerancePercent: number;
  allowUnknown: boolean;
}

async function attempt<T>(read: () => Promise<T>): Promise<Read<T>> {
  try {
    return await read();
  } catch (error) {
    return error instanceof Error ? error : new Error(errorMessage(error));
  }
}

const mapRead = <T, U>(value: Read<T>, f: (v: T) => U): Read<U> => (value instanceof Error ? value : f(value));

/**
 * Messages stored in the stream since `start`: the num_pending of a temporary consumer that
 * starts there (memory, no acks, deleted at once and expiring by itself after a minute).
 */
async function enteredSince(jsm: JetStreamManager, stream: string, start: Date): Promise<number> {
  try {
    const info = await jsm.consumers.add(stream, {
      name: `aa-ops-soak-${randomBytes(4).toString("hex")}`,
      description: "aa-ops soak-check: counts messages since the window start (temporary)",
      ack_policy: AckPolicy.None,
      deliver_policy: DeliverPolicy.StartTime,
      opt_start_time: start.toISOString(),
      inactive_threshold: nanos(60_000),
      mem_storage: true,
    });
    await jsm.consumers.delete(stream, info.name).catch(() => undefined);
    return info.num_pending;
  } catch (error) {
    throw isNotFound(error) ? new Error(`stream ${stream} does not exist`) : error;
  }
}

async function rowsWritten(database: DatabaseTarget, w: SoakWindow): Promise<number> {
  const pool = openDatabase(database);
  try {
    const { rows } = await pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM hrv_data WHERE updated_at >= $1 AND updated_at <= $2",
      [w.start, w.end],
    );
    return rows[0]?.n ?? 0;
  } finally {
    await pool.end().catch(() => undefined);
  }
}

function expectedStream(topology: Topology): (durable: string) => string | undefined {
  return (durable) => {
    const spec = topology.consumers.find((c) => c.durable === durable);
    return spec && owningStream(topology.streams, spec.filterSubject);
  };
}

const targetStream = (t: SoakTarget): string => owningStream(t.topology.streams, HRV.subject) ?? "?";

/** Every criterion from Prometheus range queries over the window, plus the DLQ stream and hrv_data. */
async function fromPrometheus(
  jsm: JetStreamManager,
  t: SoakTarget,
  prometheus: PrometheusSource,
  w: SoakWindow,
): Promise<Check[]> {
  const q = (query: string) => attempt(() => queryPrometheus(prometheus.url, query, w.end));
  const queries = soakQueries({
    seconds: w.seconds,
    namespace: prometheus.namespace,
    selector: prometheus.selector,
    hrvTopic: HRV.topic,
    hrvDurable: t.names.hrvDurable,
  });
  const bound = await q(queries.bound);
  const successes = await q(queries.successes);
  const peak = mapRead(await q(queries.dlqPeakPerMinute), (s) => s[0]?.value ?? null);
  const starts = mapRead(await q(queries.starts), (s) =>
    s.map((x) => ({ who: processName(x.labels), startedAt: x.value })),
  );
  const down = mapRead(await q(queries.down), (s) => s.map((x) => processName(x.labels)));
  const samples = mapRead(await q(queries.acceptedSamples), (s) => s[0]?.value ?? null);
  const rows = {
    accepted: await q(queries.published("success")),
    duplicates: await q(queries.published("duplicate")),
    samples,
    rows: await attempt(() => rowsWritten(t.database, w)),
    tolerancePercent: t.tolerancePercent,
  };
  return [
    judgeBindings(bound, expectedStream(t.topology), "prometheus"),
    judgeSuccesses(successes, targetStream(t), w, undefined),
    judgeDlq(t.names.dlq, await attempt(() => enteredSince(jsm, t.names.dlq, w.start)), peak, w),
    judgeRows(rows),
    judgeRestarts(starts, down, w, "prometheus"),
  ];
}

const startOf = (samples: readonly Sample[]): number | undefined =>
  samplesOf(samples, "process_start_time_seconds")[0]?.value;

function scrapedStarts(scrapes: { who: string; samples: Read<Sample[]> }[]): {
  starts: Read<ProcessStart[]>;
  down: Read<string[]>;
} {
  const starts = scrapes.flatMap(({ who, samples }) => {
    const startedAt = samples instanceof Error ? undefined : startOf(samples);
    return startedAt === undefined ? [] : [{ who, startedAt }];
  });
  const failed = scrapes.flatMap(({ samples }) => (samples instanceof Error ? [samples.message] : []));
  if (starts.length === 0)
    return { starts: new Error(failed.join("; ") || "no process_start_time_seconds in /metrics"), down: [] };
  return { starts, down: failed.length > 0 ? new Error(failed.join("; ")) : [] };
}

/** One scrape of each service: what the present shows; window-based criteria stay UNKNOWN unless already failed. */
async function fromScrape(jsm: JetStreamManager, t: SoakTarget, w: SoakWindow): Promise<Check[]> {
  const normalize = await attempt(() => scrape(t.normalizeUrl));
  const ingest = await attempt(() => scrape(t.ingestUrl));
  const successes = mapRead(normalize, (s) =>
    samplesOf(s, "normalize_hrv_messages_total", { result: "success", durable: t.names.hrvDurable }),
  );
  const { starts, down } = scrapedStarts([
    { who: `ingest-service ${t.ingestUrl}`, samples: ingest },
    { who: `normalize-service ${t.normalizeUrl}`, samples: normalize },
  ]);
  return [
    judgeBindings(
      mapRead(normalize, (s) => samplesOf(s, "event_bus_consumer_bound")),
      expectedStream(t.topology),
      "scrape",
    ),
    judgeSuccesses(successes, targetStream(t), w, {
      startedAt: normalize instanceof Error ? undefined : startOf(normalize),
    }),
    judgeDlq(t.names.dlq, await attempt(() => enteredSince(jsm, t.names.dlq, w.start)), undefined, w),
    judgeRows(undefined),
    judgeRestarts(starts, down, w, "scrape"),
  ];
}

function sinceOf(option: string | boolean | undefined): SoakTarget["since"] {
  const ms = typeof option === "string" ? durationMs(option, { units: ["s", "m", "h", "d", "w"] }) : undefined;
  if (ms === undefined)
    throw usageError(
      "--since is required: a duration such as 30m, 2h or 48h, got " +
        `${option === undefined ? "none" : JSON.stringify(option)}`,
    );
  return { text: option as string, seconds: ms / 1000 };
}

function toleranceOf(option: string | boolean | undefined): number {
  if (option === undefined) return 1;
  if (typeof option === "string" && /^[0-9]+(\.[0-9]+)?$/.test(option)) return Number(option);
  throw usageError(`--tolerance takes a percentage such as 1 or 0.5, got ${JSON.stringify(option)}`);
}

function prometheusOf(input: CommandInput): SoakTarget["prometheus"] {
  const { options } = input;
  if (typeof options["prometheus-url"] !== "string") {
    if (typeof options.namespace === "string")
      throw usageError("--namespace scopes the Prometheus queries: give --prometheus-url too");
    return undefined;
  }
  if (typeof options["ingest-url"] === "string" || typeof options["normalize-url"] === "string") {
    throw usageError(
      "--prometheus-url reads the services' metrics from Prometheus: leave out --ingest-url and --normalize-url",
    );
  }
  const selector = typeof options.selector === "string" ? options.selector : DEFAULT_SELECTOR;
  return { url: options["prometheus-url"].replace(/\/+$/, ""), selector, namespace: namespaceOf(input) };
}

/**
 * `--namespace`, else POD_NAMESPACE (the aa-ops pod's own namespace, from the downward API): the
 * environment judged. Unset: every namespace, which is right only for a Prometheus of one environment.
 */
export function namespaceOf(input: Pick<CommandInput, "options" | "env">): string | undefined {
  const option = input.options.namespace;
  const raw = typeof option === "string" ? option : input.env.POD_NAMESPACE?.trim() || undefined;
  if (raw === undefined) return undefined;
  const from = typeof option === "string" ? "--namespace" : "POD_NAMESPACE";
  if (!NAMESPACE_PATTERN.test(raw))
    throw usageError(`${from} must be a Kubernetes namespace name, got ${JSON.stringify(raw)}`);
  return raw;
}

function targetOf(input: CommandInput): SoakTarget {
  return {
    topology: expectedTopology(input),
    names: topologyNamesFromEnv(input.env),
    since: sinceOf(input.options.since),
    prometheus: prometheusOf(input),
    ingestUrl: ingestUrlOf(input),
    normalizeUrl: normalizeUrlOf(input),
    database: databaseTargetOf(input),
    tolerancePercent: toleranceOf(input.options.tolerance),
    allowUnknown: input.options["allow-unknown"] === true,
  };
}

function verdict(checks: readonly Check[], t: SoakTarget): string {
  const n = countChecks(checks);
  if (n.FAIL > 0) return `❌ Success criteria NOT met over the last ${t.since.text}`;
  if (n.UNKNOWN > 0)
    return (
      `❔ ${n.UNKNOWN} criteria could not be judged (absent data is not success)` +
      (t.allowUnknown ? "; --allow-unknown: exit 0" : "; exit 1 (--allow-unknown to accept)")
    );
  return `✅ Success criteria met over the last ${t.since.text}`;
}

/**
 * What is wrong with the monitoring itself, not a criterion (the exit code ignores it): alerts
 * whose runbook links open nowhere.
 */
async function monitoringWarnings(prometheus: PrometheusSource | undefined): Promise<string[]> {
  if (prometheus === undefined) return [];
  const yaml = await attempt(() => prometheusConfigYaml(prometheus.url));
  if (yaml instanceof Error) return [`cannot check runbook_base_url: ${yaml.message}`];
  const warning = runbookLinkWarning(yaml);
  return warning === undefined ? [] : [warning];
}

function writeReport(write: Writer, checks: readonly Check[], t: SoakTarget, warnings: readonly string[]): void {
  writeChecks(write, checks);
  for (const warning of warnings) write(`⚠️  Monitoring: ${warning}`);
  footer(write, [resultLine(checks), verdict(checks, t)]);
  write("");
  write(`Not judged here: ${NOT_JUDGED}.`);
}

function headerRows(t: SoakTarget, w: SoakWindow, natsUrl: string): [string, string][] {
  const scope = (ns: string | undefined) =>
    ns === undefined ? "every namespace: no --namespace or POD_NAMESPACE" : `namespace="${ns}"`;
  const source = t.prometheus
    ? `Prometheus ${t.prometheus.url} (${scope(t.prometheus.namespace)}; processes {${t.prometheus.selector}})`
    : `one scrape of ${t.ingestUrl} and ${t.normalizeUrl}`;
  const rows: [string, string][] = [
    ["NATS URL", natsUrl],
    ["Mode", t.topology.mode],
    ["Window", `${t.since.text} (${w.start.toISOString()} → ${w.end.toISOString()})`],
    ["Source", source],
  ];
  return t.prometheus ? [...rows, ["Database", describeDatabase(t.database)]] : rows;
}

const soakCheckCommand: Command = {
  words: ["soak-check"],
  args: [],
  summary: "The runbook's Success Criteria over a window: PASS, FAIL or UNKNOWN (absent data is not success)",
  details: [
    "No fallback binding (event_bus_consumer_bound), 100% of HRV successes on the mode's stream, DLQ not",
    "spiking (< 10/min; counted in the DLQ stream itself), no missing rows (accepted readings vs hrv_data rows",
    "written), no restarts (process_start_time_seconds). With --prometheus-url: range queries over the window.",
    "Without: one scrape of each service; criteria a single scrape cannot judge are UNKNOWN (and say so).",
    "Exit 1 on FAIL or UNKNOWN (UNKNOWN allowed with --allow-unknown). Counting DLQ messages in the window",
    "creates a temporary consumer on the DLQ stream and deletes it at once. With --prometheus-url it also warns",
    "(without changing the exit code) when Prometheus has no absolute runbook_base_url: alert links open nowhere.",
  ],
  options: {
    since: {
      type: "string",
      value: "<duration>",
      help: "the window to judge, back from now: 30m, 2h, 48h, 2d (required)",
    },
    "prometheus-url": {
      type: "string",
      value: "<url>",
      help: "Prometheus base URL: judge the whole window with range queries",
    },
    namespace: {
      type: "string",
      value: "<namespace>",
      help:
        "with --prometheus-url: judge only this environment's series (namespace label); default POD_NAMESPACE " +
        "(the aa-ops pod's namespace), else every namespace",
    },
    selector: {
      type: "string",
      value: "<matchers>",
      help: `label matchers of the services' processes in Prometheus (default ${DEFAULT_SELECTOR})`,
    },
    ...SERVICE_OPTIONS,
    ...DATABASE_OPTIONS,
    ...MODE_OPTIONS,
    tolerance: {
      type: "string",
      value: "<percent>",
      help: "missing rows tolerated, in % of accepted readings (default 1, at least 2 rows)",
    },
    "allow-unknown": { type: "boolean", help: "exit 0 when nothing failed even if some criteria are UNKNOWN" },
  },
  prepare(input) {
    const t = targetOf(input);
    return async (jsm, out): Promise<CliExitCode> => {
      const end = new Date();
      const w: SoakWindow = { ...t.since, start: new Date(end.getTime() - t.since.seconds * 1000), end };
      if (!input.json) header(out, "aa-ops soak-check: Success Criteria", headerRows(t, w, input.natsUrl));
      const checks = t.prometheus ? await fromPrometheus(jsm, t, t.prometheus, w) : await fromScrape(jsm, t, w);
      const warnings = await monitoringWarnings(t.prometheus);
      const code = checksExitCode(checks, t.allowUnknown);
      const source = t.prometheus
        ? { prometheus: t.prometheus }
        : { scrape: { ingestUrl: t.ingestUrl, normalizeUrl: t.normalizeUrl } };
      if (input.json)
        writeJson(out, {
          natsUrl: input.natsUrl,
          mode: t.topology.mode,
          window: { since: t.since.text, start: w.start, end: w.end },
          ...source,
          ok: code === 0,
          checks,
          notJudged: [NOT_JUDGED],
          warnings,
        });
      else writeReport(out, checks, t, warnings);
      return code;
    };
  },
};

export const soakCheckCommands: readonly Command[] = [soakCheckCommand];
