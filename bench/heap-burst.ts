import { readFile } from "node:fs/promises";
import { parseAllDocuments } from "yaml";
import { IdSequence, readingDate } from "./events.js";
import type { PhaseContext } from "./e2e.js";
import { acceptedBatch } from "./load.js";
import { healthStatus, peakRssMb, type ServiceRunner } from "./services.js";
import { hrvProbe, waitCommitted } from "./verify.js";

/** The manifest the burst takes ingest's NODE_OPTIONS and memory limit from. */
const INGEST_MANIFEST = new URL("../deploy/k8s/base/ingest.yaml", import.meta.url);

interface Deployed {
  /** The container's NODE_OPTIONS (the V8 heap flags). */
  nodeOptions: string;
  memoryLimitMib: number;
}

/** ingest's NODE_OPTIONS and memory limit as deploy/k8s/base/ingest.yaml sets them. */
export async function deployedIngest(): Promise<Deployed> {
  type Container = {
    name?: string;
    env?: Array<{ name: string; value?: string }>;
    resources?: { limits?: { memory?: string } };
  };
  const docs = parseAllDocuments(await readFile(INGEST_MANIFEST, "utf8")).map(
    (doc) => doc.toJS() as { kind?: string; spec?: { template?: { spec?: { containers?: Container[] } } } },
  );
  const container = docs
    .find((doc) => doc.kind === "Deployment")
    ?.spec?.template?.spec?.containers?.find((c) => c.name === "ingest");
  const nodeOptions = container?.env?.find((e) => e.name === "NODE_OPTIONS")?.value;
  const limit = /^(\d+)Mi$/.exec(container?.resources?.limits?.memory ?? "")?.[1];
  if (nodeOptions === undefined || limit === undefined)
    throw new Error(`${INGEST_MANIFEST.pathname}: no ingest container with NODE_OPTIONS and a memory limit in Mi`);
  return { nodeOptions, memoryLimitMib: Number(limit) };
}

/** The batch route's body limit (services/ingest: 2 MiB) and the readings one body carries. */
const BATCH_BODY_LIMIT = 2_097_152;
const READINGS_PER_BATCH = 1_000;

export interface HeapBurstResult {
  /** ingest's NODE_OPTIONS and memory limit, from its manifest. */
  deployed: Deployed;
  waves: number;
  perWave: number;
  /** 202: every reading of the batch taken. */
  accepted: number;
  /** 503 with a Retry-After header. */
  shed: number;
  /** Any other answer (or 503 without Retry-After), and requests that got no answer at all. */
  otherAnswers: number;
  /** ingest still running and answering /health 200 after the burst. */
  alive: boolean;
  /** ingest's peak resident memory during the burst (VmHWM), MiB. */
  peakRssMb: number;
  /** `ingest_requests_rejected_total` by reason, read after the burst. */
  rejectedByReason: Record<string, number>;
  /** Every reading of every accepted batch committed, and nothing of the shed ones. */
  complete: boolean;
  rows: number;
}

/**
 * Waves of concurrent 2 MiB batches against an ingest started as deployed (its manifest's NODE_OPTIONS, both kinds
 * of shedding on): the heap budget must answer 503 + Retry-After before the heap cap, the process must stay up and
 * under its container's memory limit, and exactly the accepted readings must be stored (the ledger audits them).
 */
export async function heapBurst(
  ctx: PhaseContext,
  runner: ServiceRunner,
  ingestEnv: Record<string, string>,
): Promise<HeapBurstResult> {
  const { burstWaves: waves, burstPerWave: perWave } = ctx.sizes;
  const normalize = await runner.start("normalize", {}, "heap-burst");
  const deployed = await deployedIngest();
  const ingest = await runner.start("ingest", { ...ingestEnv, NODE_OPTIONS: deployed.nodeOptions }, "heap-burst");
  const ids = new IdSequence("burst");
  const pad = paddingFor(ids.phase);
  const outcome = { accepted: [] as string[], refused: [] as string[], shed: 0, other: 0, batches: 0 };
  try {
    for (let wave = 0; wave < waves; wave++) {
      const bodies = Array.from({ length: perWave }, () => largeBatch(ids, pad));
      const answers = await Promise.all(bodies.map((batch) => post(ctx, ingest.url, batch.body)));
      answers.forEach((answer, k) => {
        const batchIds = bodies[k]?.ids ?? [];
        const taken = new Set(answer === undefined ? [] : acceptedBatch(answer.status, answer.text, batchIds));
        for (const id of batchIds) (taken.has(id) ? outcome.accepted : outcome.refused).push(id);
        if (answer?.status === 202) outcome.batches++;
        else if (answer?.status === 503 && answer.retryAfter !== null) outcome.shed++;
        else outcome.other++;
      });
    }
    const health = await healthStatus(ingest.url, 5_000).catch(() => undefined);
    const alive = ingest.run.process.exitCode === null && health === 200;
    const peak = (await peakRssMb(ingest.run.process.pid)) ?? NaN;
    const rejectedByReason = alive ? await rejectedReasons(ingest.url) : {};
    ctx.ledger.record({
      phase: ids.phase,
      sent: ids.sent,
      accepted: outcome.accepted,
      refused: outcome.refused,
      unanswered: 0,
    });
    const committed = await waitCommitted(
      hrvProbe(ctx.env, ids.phase),
      outcome.accepted.length,
      ctx.sizes.drainTimeoutMs,
    );
    return {
      deployed,
      waves,
      perWave,
      accepted: outcome.batches,
      shed: outcome.shed,
      otherAnswers: outcome.other,
      alive,
      peakRssMb: peak,
      rejectedByReason,
      complete: committed.complete && committed.rows === outcome.accepted.length,
      rows: committed.rows,
    };
  } finally {
    await runner.stop(ingest);
    await runner.stop(normalize);
  }
}

/** The `raw` padding that brings a batch of READINGS_PER_BATCH readings of this phase to just under the limit. */
function paddingFor(phase: string): string {
  const widest = `${phase}:${Number.MAX_SAFE_INTEGER}`;
  const unpadded = batchBody(
    Array.from({ length: READINGS_PER_BATCH }, () => widest),
    "",
  ).length;
  return "x".repeat(Math.floor((BATCH_BODY_LIMIT - unpadded) / READINGS_PER_BATCH));
}

function largeBatch(ids: IdSequence, pad: string): { body: string; ids: string[] } {
  const batch = Array.from({ length: READINGS_PER_BATCH }, () => ids.next());
  return { body: batchBody(batch, pad), ids: batch };
}

const batchBody = (batch: readonly string[], pad: string): string =>
  `{"items":[${batch
    .map((id) => `{"eventId":"${id}","userId":"${id}","date":"${readingDate}","rmssd":50,"raw":{"blob":"${pad}"}}`)
    .join(",")}]}`;

interface Answer {
  status: number;
  retryAfter: string | null;
  text: string;
}

/** One batch POST; undefined when it got no answer (connection reset: the process died, or it timed out). */
async function post(ctx: PhaseContext, url: string, body: string): Promise<Answer | undefined> {
  try {
    const response = await fetch(`${url}/ingest/hrv/batch`, {
      method: "POST",
      headers: { ...ctx.headers, "content-type": "application/json" },
      body,
      signal: AbortSignal.timeout(60_000),
    });
    return { status: response.status, retryAfter: response.headers.get("retry-after"), text: await response.text() };
  } catch {
    return undefined;
  }
}

async function rejectedReasons(url: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const reasons: Record<string, number> = {};
  for (const [, reason, value] of text.matchAll(
    /^ingest_requests_rejected_total\{[^}]*reason="([^"]+)"[^}]*\} (\S+)$/gm,
  ))
    if (reason !== undefined) reasons[reason] = (reasons[reason] ?? 0) + Number(value);
  return reasons;
}

/**
 * What the burst must not show, counted: ingest gone or unhealthy, no batch shed (the burst never reached the budget,
 * so it proved nothing), answers other than 202 or 503 + Retry-After, and accepted readings not stored.
 */
export const heapBurstFailures = (burst: HeapBurstResult): number =>
  (burst.alive ? 0 : 1) + (burst.shed > 0 ? 0 : 1) + burst.otherAnswers + (burst.complete ? 0 : 1);
