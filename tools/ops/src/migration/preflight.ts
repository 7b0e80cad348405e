import { errorMessage, type Writer } from "../output.js";

/** Which service a `/health` URL belongs to: the advice differs. */
export type HealthService = "ingest" | "normalize";

export interface HealthTarget {
  service: HealthService;
  url: string;
}

/** What one `/health` request gave: a status and parsed body, or the transport error. */
export type HealthAnswer = { status: number; body: unknown } | { error: string };

/** The verdict on one failed `/health`: why, and whether `--skip-health-check` is safe for it. */
export interface HealthVerdict {
  reason: string;
  /** true: the move itself does not depend on what is broken; false: find out first. */
  safeToSkip: boolean;
  advice: string;
}

const DRAIN_NEEDS_NORMALIZE =
  "the drain needs a normalize pod of this image: do not roll the image back before this command " +
  "reports the source durables drained";

function field(body: unknown, ...path: string[]): unknown {
  let value: unknown = body;
  for (const key of path)
    value = typeof value === "object" && value !== null ? (value as Record<string, unknown>)[key] : undefined;
  return value;
}

function ingestVerdict(status: number, body: unknown): HealthVerdict | undefined {
  const eventBus = field(body, "eventBus");
  if (field(body, "service") !== "ingest" || eventBus === undefined) return undefined;
  return {
    reason: `HTTP ${status}, eventBus ${JSON.stringify(eventBus)}`,
    safeToSkip: true,
    advice: "ingest cannot reach NATS; moving the subjects does not make its publishes fail more than they already do",
  };
}

function normalizeVerdict(status: number, body: unknown): HealthVerdict | undefined {
  const database = field(body, "services", "database");
  const nats = field(body, "services", "nats");
  const overall = field(body, "status");
  if (database === undefined || nats === undefined) return undefined;
  const reason =
    `HTTP ${status}, status ${JSON.stringify(overall)}, ` +
    `database ${JSON.stringify(database)}, nats ${JSON.stringify(nats)}`;
  if (database !== "connected") {
    return {
      reason,
      safeToSkip: true,
      advice:
        "normalize cannot write to PostgreSQL, so messages wait in the streams (nothing is lost); " +
        "the drain waits until the database is back, re-run on a drain timeout; " +
        DRAIN_NEEDS_NORMALIZE,
    };
  }
  if (nats !== "connected")
    return { reason, safeToSkip: true, advice: `normalize is reconnecting to NATS; ${DRAIN_NEEDS_NORMALIZE}` };
  return {
    reason,
    safeToSkip: true,
    advice:
      "a durable has no primary binding (a half-done migration or a missing durable): migrate " +
      "creates the target durables; check `aa-ops status` afterwards",
  };
}

/** Pure: classifies a failed `/health` answer (anything but 200) for the pre-flight's error. */
export function healthVerdict(target: HealthTarget, answer: HealthAnswer): HealthVerdict {
  if ("error" in answer) {
    // The Services publish not-ready addresses, so "no answer" means no pod runs, not "unhealthy".
    return target.service === "ingest"
      ? {
          reason: `no answer (${answer.error})`,
          safeToSkip: true,
          advice: "no ingest pod answers, so nothing publishes through the gap",
        }
      : {
          reason: `no answer (${answer.error})`,
          safeToSkip: true,
          advice: `no normalize pod answers: the subjects can move, but ${DRAIN_NEEDS_NORMALIZE}`,
        };
  }
  const known =
    target.service === "ingest"
      ? ingestVerdict(answer.status, answer.body)
      : normalizeVerdict(answer.status, answer.body);
  return (
    known ?? {
      reason: `HTTP ${answer.status} without the service's health body`,
      safeToSkip: false,
      advice:
        `this is not ${target.service}-service's /health (wrong URL or port: with ADMIN_PORT, ` +
        "ingest's /health is on --ingest-admin-url); find out what answers before skipping the check",
    }
  );
}

/** The pre-flight's error for one failed check: the reason, and whether and why skipping is safe. */
export function healthFailureMessage(target: HealthTarget, verdict: HealthVerdict): string {
  const skip = verdict.safeToSkip
    ? `safe to re-run with --skip-health-check: ${verdict.advice}`
    : `do NOT pass --skip-health-check yet: ${verdict.advice}`;
  return `${target.url} is not healthy (${verdict.reason}); ${skip}`;
}

async function ask(url: string): Promise<HealthAnswer> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
    const text = await response.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    return { status: response.status, body };
  } catch (error) {
    return { error: errorMessage(error) };
  }
}

/** Asks every `/health`; returns the error message of the first that is not 200, else undefined. */
export async function checkHealth(targets: readonly HealthTarget[], write: Writer): Promise<string | undefined> {
  for (const target of targets) {
    const answer = await ask(target.url);
    if ("status" in answer && answer.status === 200) {
      write(`✓  ${target.url} healthy`);
      continue;
    }
    return healthFailureMessage(target, healthVerdict(target, answer));
  }
  return undefined;
}
