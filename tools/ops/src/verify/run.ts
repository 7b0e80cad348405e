import { Subjects } from "@aa/contracts";
import { isNotFound, owningStream, planTopology, readTopology, type Topology, type TopologyNames } from "@aa/event-bus";
import type { JetStreamManager } from "@nats-io/jetstream";
import { checksPassed, fail, pass, type Check } from "../checks.js";
import { errorMessage } from "../output.js";
import { sampleLine, samplesOf, scrape, type Sample } from "../prometheus.js";
import { consumerChecks, ingestHealthCheck, normalizeHealthChecks, streamChecks } from "./checks.js";
import { probeAccepted, probeChecks, type Probe, type ProbeTarget } from "./probe.js";

const METRICS = "Metric labels (runbook: Metrics Verification)";
const DLQ = "DLQ baseline (runbook: DLQ Monitoring)";
const HRV = Subjects.hrvRawReceived;

/** What `verify` checks: the mode's topology and names, and where the services and hrv_data are. */
export interface VerifyTarget extends ProbeTarget {
  topology: Topology;
  names: TopologyNames;
  normalizeUrl: string;
}

/** The checks in report order; `passed` when none failed (verify allows no UNKNOWN). */
export interface VerifyReport {
  checks: Check[];
  /** Ingest accepted the probe, so its row is kept in hrv_data. */
  probeAccepted: boolean;
  passed: boolean;
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

export interface DlqState {
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
export function dlqCheck(stream: string, before: DlqState | Error, after: DlqState | Error, mode: string): Check {
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
export async function runVerify(jsm: JetStreamManager, t: VerifyTarget, probe: Probe): Promise<VerifyReport> {
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
  return { checks, probeAccepted: probeAccepted(checks), passed: checksPassed(checks) };
}
