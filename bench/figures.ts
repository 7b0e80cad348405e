import type { TracingResult } from "./tracing.js";
import type { BenchRun } from "./run-result.js";

const TRACING_FIGURES: Record<TracingResult["mode"], string> = {
  off: "e2eSingleTracingOffEventsPerSec",
  "no endpoint": "e2eSingleTracingNoEndpointEventsPerSec",
  exporting: "e2eSingleTracingExportingEventsPerSec",
};

/** The figures the smoke test checks: every one a number, positive except the hops (which can round to 0 ms). */
export function figures(run: BenchRun): Record<string, number> {
  return {
    jsPublishMsgPerSec: run.raw.jsPublishMsgPerSec,
    jsConsumeAckMsgPerSec: run.raw.jsConsumeAckMsgPerSec,
    pgUpsertRowsPerSec: run.raw.pgUpsertRowsPerSec,
    fastifyReqPerSec: run.raw.fastifyReqPerSec,
    seedE2eEventsPerSec: run.seed.eventsPerSec,
    seedAcceptedPerSec: run.seed.acceptedPerSec,
    e2eSingleEventsPerSec: run.single.eventsPerSec,
    e2eSingleAcceptedPerSec: run.single.acceptedPerSec,
    e2eBatchEventsPerSec: run.batch.eventsPerSec,
    latencyP50Ms: run.latency.p50Ms,
    latencyP99Ms: run.latency.p99Ms,
    latencyMaxMs: run.latency.maxMs,
    latencyWarmupP99Ms: run.latency.warmup.p99Ms,
    latencyP99HopIngestMs: run.latency.parts.receivedP99Ms,
    latencyP99HopStreamMs: run.latency.parts.storedP99Ms,
    latencyP99HopRowMs: run.latency.parts.insertedP99Ms,
    drainOneEventsPerSec: run.drainOne.eventsPerSec,
    drainTwoEventsPerSec: run.drainTwo.eventsPerSec,
    drainQuietEventsPerSec: run.drainQuiet.eventsPerSec,
    ...Object.fromEntries(run.tracing.map((t) => [TRACING_FIGURES[t.mode], t.single.eventsPerSec])),
    ingestPeakRssMb: run.peakRssMb.ingest,
    normalizePeakRssMb: run.peakRssMb.normalize,
    heapBurstShedBatches: run.heapBurst.shed,
    heapBurstIngestPeakRssMb: run.heapBurst.peakRssMb,
  };
}
