import { randomBytes } from "node:crypto";
import { Subjects } from "@aa/contracts";
import {
  isNotFound,
  owningStream,
  planTopology,
  readTopology,
  topologyNamesFromEnv,
  type Topology,
  type TopologyNames,
} from "@aa/event-bus";
import type { JetStreamManager } from "@nats-io/jetstream";
import { checksExitCode, fail, pass, resultLine, writeChecks, type Check } from "../checks.js";
import { durationMs, WHOLE_SECONDS } from "../duration.js";
import { errorMessage, footer, header, writeJson, type Writer } from "../output.js";
import { fetchErrorMessage } from "../http.js";
import { sampleLine, samplesOf, scrape, type Sample } from "../prometheus.js";
import { usageError, type CliExitCode, type Command, type CommandInput } from "./command.js";
import {
  DATABASE_OPTIONS,
  databaseTargetOf,
  describeDatabase,
  expectedTopology,
  ingestAdminUrlOf,
  ingestUrlOf,
  MODE_OPTIONS,
  normalizeUrlOf,
  openDatabase,
  SERVICE_OPTIONS,
  type DatabaseTarget,
} from "./service-options.js";
import { consumerChecks, ingestHealthCheck, normalizeHealthChecks, streamChecks } from "../verify/checks.js";

const PROBE = "End-to-end probe (runbook: E2E Test: HRV Ingestion Flow)";
const METRICS = "Metric labels (runbook: Metrics Verification)";
const DLQ = "DLQ baseline (runbook: DLQ Monitoring)";
const HRV = Subjects.hrvRawReceived;
const PROBE_RMSSD = 55;

interface VerifyTarget {
  topology: Topology;
  names: TopologyNames;
  ingestUrl: string;
  /** ingest's /health and /metrics (its ADMIN_PORT listener in production). */
  ingestAdminUrl: string;
  /** INGEST_API_KEY: sent with the probe (env only, so the key stays out of shell history and `ps`). */
  ingestApiKey: string | undefined;
  normalizeUrl: string;
  database: DatabaseTarget;
  probeTimeoutMs: number;
}

/** The probe reading: a user id of its own (so its row is easy to find and delete) and a unique event id. */
export interface Probe {
  userId: string;
  eventId: string;
}

function newProbe(now: Date): Probe {
  const stamp = now.toISOString().replace(/[-:.]/g, "");
  return { userId: `aa-ops-verify-${stamp}`, eventId: `aa-ops-verify-${stamp}-${randomBytes(4).toString("hex")}` };
}

const POSTED = "POST /ingest/hrv";

async function postProbe(t: VerifyTarget, probe: Probe): Promise<Check> {
  const name = POSTED;
  const now = new Date();
  const body = {
    userId: probe.userId,
    date: now.toISOString().slice(0, 10),
    rmssd: PROBE_RMSSD,
    capturedAt: now.toISOString(),
    eventId: probe.eventId,
  };
  try {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (t.ingestApiKey !== undefined) headers.authorization = `Bearer ${t.ingestApiKey}`;
    const response = await fetch(`${t.ingestUrl}/ingest/hrv`, {
      method: "POST",
      headers,
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
    const answer = (await response.json().catch(() => ({}))) as Record<string, unknown>;
    if (response.status === 202 && answer.status === "received")
      return pass(PROBE, name, `202 received, userId ${probe.userId}, eventId ${probe.eventId}`);
    if (response.status === 401 || response.status === 403) {
      const reasons = [
        t.ingestApiKey === undefined
          ? "INGEST_API_KEY is not set: ingest wants credentials"
          : "the key in INGEST_API_KEY was refused (revoked, expired, scoped to other user ids, or " +
            "from another database)",
      ];
      return fail(
        PROBE,
        name,
        `HTTP ${response.status} ${JSON.stringify(answer)}`,
        reasons,
        "export INGEST_API_KEY=$(npx aa-ops keys create --name verify --tenant platform-ops " +
          "--all-users --expires-in 1d --json | jq -r .token)",
      );
    }
    return fail(
      PROBE,
      name,
      `HTTP ${response.status} ${JSON.stringify(answer)}`,
      ['expected 202 {"status":"received",…}'],
      `curl -s ${t.ingestAdminUrl}/health`,
    );
  } catch (error) {
    return fail(
      PROBE,
      name,
      `ingest did not answer: ${fetchErrorMessage(error)}`,
      [],
      `curl -s ${t.ingestAdminUrl}/health`,
    );
  }
}

interface ProbeRow {
  user_id: string;
  rmssd: number;
  ln_rmssd: number;
}

// event_id alone is not unique (another tenant may use the same one): the user narrows it to the probe's row.
const ROW_SQL = "SELECT user_id, rmssd, ln_rmssd FROM hrv_data WHERE user_id = $1 AND event_id = $2";

async function waitForRow(t: VerifyTarget, probe: Probe): Promise<{ row: ProbeRow | undefined; ms: number }> {
  const pool = openDatabase(t.database);
  const started = Date.now();
  try {
    for (;;) {
      const { rows } = await pool.query<ProbeRow>(ROW_SQL, [probe.userId, probe.eventId]);
      if (rows[0] !== undefined || Date.now() - started > t.probeTimeoutMs)
        return { row: rows[0], ms: Date.now() - started };
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  } finally {
    await pool.end().catch(() => undefined);
  }
}

function rowVerdict(row: ProbeRow | undefined, ms: number, t: VerifyTarget): Check {
  const name = "row in hrv_data";
  const expected = Math.log(PROBE_RMSSD);
  if (row === undefined) {
    const reasons = [
      "ingest accepted it, so it is in the stream: is normalize pulling (Waiting Pulls, Pending)?",
      "if it was dead-lettered, the DLQ check below says so",
    ];
    return fail(PROBE, name, `no row within ${Math.round(t.probeTimeoutMs / 1000)} s`, reasons, "aa-ops status");
  }
  const detail =
    `after ${(ms / 1000).toFixed(1)} s: user_id ${row.user_id}, ` +
    `rmssd ${row.rmssd}, ln_rmssd ${row.ln_rmssd.toFixed(6)}`;
  if (Math.abs(row.ln_rmssd - expected) < 1e-9) return pass(PROBE, name, `${detail} = ln(${PROBE_RMSSD})`);
  return fail(PROBE, name, detail, [`expected ln(${PROBE_RMSSD}) = ${expected.toFixed(6)}`]);
}

/** (d) The probe through ingest to its `hrv_data` row, polled for `probeTimeoutMs`. The row is kept. */
async function probeChecks(t: VerifyTarget, probe: Probe): Promise<Check[]> {
  const posted = await postProbe(t, probe);
  if (posted.status !== "PASS")
    return [posted, fail(PROBE, "row in hrv_data", "not looked for: the probe was not accepted")];
  try {
    const { row, ms } = await waitForRow(t, probe);
    return [posted, rowVerdict(row, ms, t)];
  } catch (error) {
    return [
      posted,
      fail(
        PROBE,
        "row in hrv_data",
        `cannot query hrv_data in ${describeDatabase(t.database)}: ${errorMessage(error)}`,
        [],
        "--database-url / --database-schema, or DATABASE_URL / DATABASE_SCHEMA",
      ),
    ];
  }
}

async function seriesCheck(
  service: string,
  baseUrl: string,
  name: string,
  labels: Record<string, string>,
  retryMs: number,
): Promise<Check> {
  const title = `${service} ${name}`;
  const wanted: Sample = { name, labels, value: 1 };
  const deadline = Date.now() + retryMs;
  let samples: Sample[] = [];
  try {
    // The counter moves just after the row commits, so give it a moment.
    do {
      samples = await scrape(baseUrl);
      const found = samplesOf(samples, name, labels).find((s) => s.value >= 1);
      if (found) return pass(METRICS, title, sampleLine(found));
      await new Promise((resolve) => setTimeout(resolve, 250));
    } while (Date.now() < deadline);
  } catch (error) {
    return fail(METRICS, title, errorMessage(error), [], `curl -s ${baseUrl}/metrics`);
  }
  const seen = samplesOf(samples, name).map((s) => `seen: ${sampleLine(s)}`);
  const expected = sampleLine(wanted).replace(/ 1$/, " ≥ 1");
  return fail(
    METRICS,
    title,
    `no ${expected}`,
    seen.length > 0 ? seen : [`no ${name} series at all`],
    `curl -s ${baseUrl}/metrics | grep ${name}`,
  );
}

/** (e) The runbook's metric lines, with the mode's stream label. */
async function metricChecks(t: VerifyTarget): Promise<Check[]> {
  const stream = owningStream(t.topology.streams, HRV.subject) ?? "?";
  const normalizeLabels = { result: "success", subject: HRV.subject, stream, durable: t.names.hrvDurable };
  return [
    await seriesCheck("normalize", t.normalizeUrl, "normalize_hrv_messages_total", normalizeLabels, 3_000),
    await seriesCheck(
      "ingest",
      t.ingestAdminUrl,
      "event_bus_events_published_total",
      { topic: HRV.topic, status: "success" },
      0,
    ),
  ];
}

interface DlqState {
  messages: number;
  lastSeq: number;
}

async function dlqState(jsm: JetStreamManager, stream: string): Promise<DlqState | Error> {
  try {
    const { state } = await jsm.streams.info(stream);
    return { messages: state.messages, lastSeq: state.last_seq };
  } catch (error) {
    return new Error(isNotFound(error) ? `stream ${stream} does not exist` : errorMessage(error));
  }
}

/** (f) No message entered the DLQ while the probe ran (by sequence, so a purge in between does not hide one). */
function dlqCheck(stream: string, before: DlqState | Error, after: DlqState | Error, mode: string): Check {
  const name = `${stream} during the probe`;
  if (before instanceof Error || after instanceof Error) {
    return fail(
      DLQ,
      name,
      (before instanceof Error ? before : (after as Error)).message,
      [],
      `aa-ops topology plan --mode ${mode}`,
    );
  }
  const added = after.lastSeq - before.lastSeq;
  if (added === 0) return pass(DLQ, name, `no new message (${after.messages} held, last sequence ${after.lastSeq})`);
  const reasons = ["new dead letters while the probe ran: the probe itself, or other traffic failing"];
  return fail(
    DLQ,
    name,
    `${added} new message(s): ${before.messages} → ${after.messages}`,
    reasons,
    `aa-ops stream get ${stream} ${after.lastSeq}`,
  );
}

/** Runs (a)–(f) in order; never throws for a failed check, only when NATS itself cannot be read. */
export async function runVerify(jsm: JetStreamManager, t: VerifyTarget, probe: Probe): Promise<Check[]> {
  const plan = planTopology(await readTopology(jsm), t.topology);
  const mode = t.topology.mode;
  const checks = [...streamChecks(plan, mode), ...consumerChecks(plan, mode)];
  checks.push(
    await ingestHealthCheck(t.ingestAdminUrl),
    ...(await normalizeHealthChecks(t.normalizeUrl, t.topology, t.names.hrvDurable)),
  );
  const before = await dlqState(jsm, t.names.dlq);
  checks.push(...(await probeChecks(t, probe)), ...(await metricChecks(t)));
  checks.push(dlqCheck(t.names.dlq, before, await dlqState(jsm, t.names.dlq), mode));
  return checks;
}

function probeTimeoutOf(option: string | boolean | undefined): number {
  if (option === undefined) return 15_000;
  const ms = typeof option === "string" ? durationMs(option, WHOLE_SECONDS) : undefined;
  if (ms !== undefined) return ms;
  throw usageError(`--probe-timeout takes whole seconds, got ${JSON.stringify(option)}`);
}

function targetOf(input: CommandInput): VerifyTarget {
  return {
    topology: expectedTopology(input),
    names: topologyNamesFromEnv(input.env),
    ingestUrl: ingestUrlOf(input),
    ingestAdminUrl: ingestAdminUrlOf(input),
    ingestApiKey: input.env.INGEST_API_KEY?.trim() || undefined,
    normalizeUrl: normalizeUrlOf(input),
    database: databaseTargetOf(input),
    probeTimeoutMs: probeTimeoutOf(input.options["probe-timeout"]),
  };
}

const keptNote = (probe: Probe): string[] => [
  `The probe row (user_id ${probe.userId}) is kept, as the runbook's own E2E test keeps its rows. ` +
    "To remove probe rows:",
  `  DELETE FROM hrv_data WHERE user_id LIKE 'aa-ops-verify-%';`,
];

const probeAccepted = (checks: readonly Check[]): boolean =>
  checks.some((c) => c.section === PROBE && c.name === POSTED && c.status === "PASS");

function writeReport(write: Writer, checks: readonly Check[], probe: Probe): void {
  writeChecks(write, checks);
  const ok = checksExitCode(checks) === 0;
  footer(write, [
    resultLine(checks),
    ok ? "✅ Post-deployment verification passed" : "❌ Post-deployment verification FAILED: see the reasons above",
  ]);
  if (!probeAccepted(checks)) return;
  write("");
  for (const line of keptNote(probe)) write(line);
}

const verifyCommand: Command = {
  words: ["verify"],
  args: [],
  summary: "The runbook's Post-Deployment Verification as a PASS/FAIL report (exit 1 if anything fails)",
  details: [
    "(a) the mode's streams and (b) durables exist as configured (topology plan: no change); (c) ingest and",
    "normalize /health answer the runbook's bodies, every durable bound primary on the mode's stream; (d) an",
    "HRV probe (user aa-ops-verify-<time>) through ingest reaches hrv_data with ln_rmssd = ln(rmssd); (e) the",
    "runbook's metric lines carry the mode's stream label; (f) no new AA_DLQ message during the probe.",
    "The probe row is kept (the runbook's E2E test keeps its rows too); the report says how to delete it.",
    "The probe authenticates with the API key in INGEST_API_KEY (npx aa-ops keys create), not scoped to user ids.",
  ],
  options: {
    ...MODE_OPTIONS,
    ...SERVICE_OPTIONS,
    ...DATABASE_OPTIONS,
    "probe-timeout": { type: "string", value: "<seconds>", help: "how long to wait for the probe's row (default 15)" },
  },
  prepare(input) {
    const target = targetOf(input);
    return async (jsm, out): Promise<CliExitCode> => {
      const probe = newProbe(new Date());
      if (!input.json) {
        const rows: [string, string][] = [
          ["NATS URL", input.natsUrl],
          ["Mode", target.topology.mode],
          ["Ingest", target.ingestUrl],
          ["Normalize", target.normalizeUrl],
          ["Database", describeDatabase(target.database)],
        ];
        header(out, "aa-ops verify: Post-Deployment Verification", rows);
      }
      const checks = await runVerify(jsm, target, probe);
      const code = checksExitCode(checks);
      if (input.json)
        writeJson(out, {
          natsUrl: input.natsUrl,
          mode: target.topology.mode,
          ingestUrl: target.ingestUrl,
          normalizeUrl: target.normalizeUrl,
          database: describeDatabase(target.database),
          probe: { ...probe, accepted: probeAccepted(checks), kept: probeAccepted(checks) },
          ok: code === 0,
          checks,
        });
      else writeReport(out, checks, probe);
      return code;
    };
  },
};

export const verifyCommands: readonly Command[] = [verifyCommand];
