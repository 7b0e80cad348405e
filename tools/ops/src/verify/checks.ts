import { owningStream, type ConsumerChange, type StreamChange, type Topology, type TopologyPlan } from "@aa/event-bus";
import { fail, pass, type Check } from "../checks.js";
import { formatMs, list } from "../output.js";
import { answerText, getAnswer, type Answer } from "../http.js";
import { consumerDetails, consumerLabel, streamDetails } from "../topology/report.js";

const STREAMS = "Streams of the mode (runbook: nats stream info)";
const CONSUMERS = "Consumers (runbook: nats consumer info)";
const HEALTH = "Health endpoints";

const STREAM_FAILURE: Record<string, string> = {
  create: "missing",
  update: "differs from the expected configuration",
  needs_migration: "its subjects are owned by another stream (the migration has not moved them)",
  forbidden: "fixed fields differ (would need a delete and recreate)",
};

function streamCheck(change: StreamChange, mode: string): Check {
  const { spec } = change;
  const name = `stream ${spec.name}`;
  if (change.kind === "none")
    return pass(
      STREAMS,
      name,
      `subjects ${list(spec.subjects)}, max age ${formatMs(spec.maxAgeMs)}, replicas ${spec.replicas}`,
    );
  const reasons = change.kind === "create" ? [] : streamDetails(change);
  return fail(
    STREAMS,
    name,
    STREAM_FAILURE[change.kind] ?? change.kind,
    reasons,
    `aa-ops topology plan --mode ${mode}`,
  );
}

/** (a) Every stream of the mode exists with the expected configuration (plan kind `none`). */
export const streamChecks = (plan: TopologyPlan, mode: string): Check[] =>
  plan.streams.map((c) => streamCheck(c, mode));

function consumerCheck(change: ConsumerChange, mode: string): Check {
  const { spec, stream } = change;
  const name = `consumer ${consumerLabel(change)}`;
  if (change.kind === "none") {
    return pass(
      CONSUMERS,
      name,
      `filter ${spec.filterSubject}, ack explicit, ` +
        `max deliver ${spec.maxDeliver}, ack wait ${formatMs(spec.ackWaitMs)}`,
    );
  }
  if (change.kind === "create") {
    const elsewhere =
      change.elsewhere.length > 0 ? [`the durable ${spec.durable} exists now on ${change.elsewhere.join(", ")}`] : [];
    return fail(
      CONSUMERS,
      name,
      `missing on ${stream ?? "?"}`,
      elsewhere,
      `aa-ops topology apply --mode ${mode} --dry-run`,
    );
  }
  const investigate =
    stream === undefined ? `aa-ops topology plan --mode ${mode}` : `aa-ops consumer info ${stream} ${spec.durable}`;
  return fail(CONSUMERS, name, STREAM_FAILURE[change.kind] ?? change.kind, consumerDetails(change), investigate);
}

/** (b) Every durable as the runbook configures it: filter subject, explicit ack, max deliver 5, ack wait. */
export const consumerChecks = (plan: TopologyPlan, mode: string): Check[] =>
  plan.consumers.map((c) => consumerCheck(c, mode));

const INGEST_HEALTHY = { status: "healthy", service: "ingest", eventBus: "connected" } as const;

/** (c) ingest answers the runbook's body. */
export async function ingestHealthCheck(ingestUrl: string): Promise<Check> {
  const url = `${ingestUrl}/health`;
  const answer = await getAnswer(url);
  const body = "error" in answer ? undefined : (answer.body as Record<string, unknown>);
  const healthy =
    !("error" in answer) && answer.status === 200 && Object.entries(INGEST_HEALTHY).every(([k, v]) => body?.[k] === v);
  if (healthy) return pass(HEALTH, "ingest-service /health", JSON.stringify(body));
  return fail(
    HEALTH,
    "ingest-service /health",
    answerText(answer),
    [`expected 200 ${JSON.stringify(INGEST_HEALTHY)}`],
    `curl -s ${url}`,
  );
}

interface NormalizeHealth {
  status?: string;
  services?: { database?: string; nats?: string };
  consumers?: { stream: string; durable: string; role: string; error: string | null }[];
}

function normalizeStatusCheck(answer: Answer, url: string): Check {
  const name = "normalize-service /health";
  if ("error" in answer) return fail(HEALTH, name, answerText(answer), [], `curl -s ${url}`);
  const body = answer.body as NormalizeHealth;
  const { database, nats } = body.services ?? {};
  const detail =
    `status ${body.status ?? "?"} (HTTP ${answer.status}), ` + `database ${database ?? "?"}, nats ${nats ?? "?"}`;
  if (answer.status === 200 && body.status === "healthy" && database === "connected" && nats === "connected")
    return pass(HEALTH, name, detail);
  return fail(
    HEALTH,
    name,
    detail,
    ['expected 200 {"status":"healthy",…,"services":{"database":"connected","nats":"connected"}}'],
    `curl -s ${url}`,
  );
}

function bindingProblems(body: NormalizeHealth, topology: Topology, requiredDurable: string): string[] {
  const bindings = body.consumers ?? [];
  const problems: string[] = [];
  if (!bindings.some((b) => b.durable === requiredDurable)) problems.push(`${requiredDurable} has no binding at all`);
  for (const b of bindings) {
    const spec = topology.consumers.find((c) => c.durable === b.durable);
    const expected = spec && owningStream(topology.streams, spec.filterSubject);
    if (b.error !== null) problems.push(`${b.durable} on ${b.stream}: ${b.error}`);
    else if (b.role !== "primary")
      problems.push(
        `${b.durable} is bound ${b.role} on ${b.stream}: that stream no longer owns its subject, ` +
          "so new events are not consumed there",
      );
    else if (b.stream !== expected)
      problems.push(
        `${b.durable} is bound primary on ${b.stream}, expected ` +
          `${expected ?? "(no stream of this mode)"}: a fallback binding`,
      );
  }
  return problems;
}

function bindingsCheck(answer: Answer, topology: Topology, requiredDurable: string): Check {
  const name = `normalize consumer bindings (mode ${topology.mode})`;
  if ("error" in answer || typeof answer.body !== "object" || answer.body === null) {
    return fail(HEALTH, name, "no /health body to read the bindings from", [], "aa-ops status");
  }
  const body = answer.body as NormalizeHealth;
  const problems = bindingProblems(body, topology, requiredDurable);
  const seen = (body.consumers ?? []).map((b) => `${b.durable} ${b.role} on ${b.stream}`).join(", ") || "(none)";
  if (problems.length === 0) return pass(HEALTH, name, seen);
  return fail(HEALTH, name, seen, problems, "aa-ops status");
}

/** (c) normalize is healthy and every durable it consumes is bound primary on the mode's stream. */
export async function normalizeHealthChecks(
  normalizeUrl: string,
  topology: Topology,
  requiredDurable: string,
): Promise<Check[]> {
  const url = `${normalizeUrl}/health`;
  const answer = await getAnswer(url);
  return [normalizeStatusCheck(answer, url), bindingsCheck(answer, topology, requiredDurable)];
}
