import { topologyNamesFromEnv } from "@aa/event-bus";
import { countChecks, type Check } from "../checks.js";
import { describeDatabase } from "../database.js";
import { durationMs } from "../duration.js";
import { footer, header, writeJson, type Writer } from "../output.js";
import type { SoakWindow } from "../soak/criteria.js";
import { evaluateSoak, monitoringWarnings, soakWindow, type SoakTarget } from "../soak/evaluate.js";
import { NAMESPACE_PATTERN } from "../soak/queries.js";
import { checksExitCode, resultLine, writeChecks } from "./check-report.js";
import { usageError, type CliExitCode, type Command, type CommandInput } from "./command.js";
import {
  DATABASE_OPTIONS,
  databaseTargetOf,
  expectedTopology,
  ingestUrlOf,
  MODE_OPTIONS,
  normalizeUrlOf,
  SERVICE_OPTIONS,
} from "./service-options.js";

const DEFAULT_SELECTOR = 'job=~"ingest-service|normalize-service"';
const NOT_JUDGED = "E2E tests pass consistently (10 consecutive runs over 24 h): run `aa-ops verify` on a schedule";

/** The command line's request: the library's target, plus the window and how UNKNOWN counts. */
interface SoakRequest extends SoakTarget {
  since: { text: string; seconds: number };
  allowUnknown: boolean;
}

function sinceOf(option: string | boolean | undefined): SoakRequest["since"] {
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

function targetOf(input: CommandInput): SoakRequest {
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

function verdict(checks: readonly Check[], t: SoakRequest): string {
  const n = countChecks(checks);
  if (n.FAIL > 0) return `❌ Success criteria NOT met over the last ${t.since.text}`;
  if (n.UNKNOWN > 0)
    return (
      `❔ ${n.UNKNOWN} criteria could not be judged (absent data is not success)` +
      (t.allowUnknown ? "; --allow-unknown: exit 0" : "; exit 1 (--allow-unknown to accept)")
    );
  return `✅ Success criteria met over the last ${t.since.text}`;
}

function writeReport(write: Writer, checks: readonly Check[], t: SoakRequest, warnings: readonly string[]): void {
  writeChecks(write, checks);
  for (const warning of warnings) write(`⚠️  Monitoring: ${warning}`);
  footer(write, [resultLine(checks), verdict(checks, t)]);
  write("");
  write(`Not judged here: ${NOT_JUDGED}.`);
}

function headerRows(t: SoakRequest, w: SoakWindow, natsUrl: string): [string, string][] {
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
      const w = soakWindow(t.since, new Date());
      if (!input.json) header(out, "aa-ops soak-check: Success Criteria", headerRows(t, w, input.natsUrl));
      const checks = await evaluateSoak(jsm, t, w);
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
