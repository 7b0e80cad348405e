import { constants, PerformanceObserver } from "node:perf_hooks";
import { getHeapStatistics } from "node:v8";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { Gauge, type Registry } from "prom-client";
import { metricOnce } from "@aa/service-kit";
import { RETRY_AFTER_SECONDS } from "../readings/core.js";
import { sendAnswer } from "../routes/answer.js";
import type { Rejections } from "../auth/guard.js";
import { HeapBudget, requestCostBytes, type HeapReservation } from "./heap-budget.js";

declare module "fastify" {
  interface FastifyRequest {
    /** The request's share of the heap budget while it is admitted; null on routes without heap admission. */
    heapReservation: HeapReservation | null;
  }
  interface FastifyContextConfig {
    /** Most readings one request to the route carries; the heap estimate counts each. Default 1. */
    maxReadings?: number;
  }
}

/** Calls `onCollection` with the used heap after each full collection; returns how to stop watching. */
export type CollectionWatch = (onCollection: (usedBytes: number) => void) => () => void;

export interface HeapAdmissionOptions {
  /** Heap the process may use with every admitted request at its peak, in bytes. */
  budgetBytes: number;
  rejected: Rejections;
  registry: Registry;
  /** Default: a PerformanceObserver on V8's mark-compact collections. */
  watchCollections?: CollectionWatch;
}

/** The used heap now: one V8 call (about 0.2 µs), made after full collections, never per request. */
const usedHeapBytes = (): number => getHeapStatistics().used_heap_size;

/**
 * Sheds requests of `scope` (503 + Retry-After) that the heap budget cannot hold. Register it after authentication:
 * a stranger gets its 401 whatever the heap, and nothing is reserved for it.
 */
export function admitByHeap(scope: FastifyInstance, options: HeapAdmissionOptions): HeapBudget {
  const gauge = reservedGauge(options.registry);
  const budget = new HeapBudget({
    budgetBytes: options.budgetBytes,
    usedBytes: usedHeapBytes(),
    onChange: (bytes) => gauge.set(bytes),
  });
  const stop = (options.watchCollections ?? watchFullCollections)((used) => budget.observeCollection(used));
  scope.addHook("onClose", (_instance, done) => {
    stop();
    done();
  });
  // A decoration rather than a WeakMap: a WeakMap entry per request cost 0.2 µs.
  scope.decorateRequest("heapReservation", null);
  scope.addHook("onRequest", (request, reply, done) => {
    // The client left during authentication: Fastify then reads no body and runs no handler, so nothing would answer.
    if (reply.raw.destroyed) return done();
    const reservation = budget.admit(costOf(request));
    if (reservation === undefined) {
      options.rejected("overloaded_memory");
      return shed(reply);
    }
    request.heapReservation = reservation;
    // 'close' comes once per response, sent or not: 'finish' and onResponse never come when the client left.
    reply.raw.once("close", () => reservation.closed());
    done();
  });
  // Every answer passes here, also one sent after the client left: the handler is done with the request's memory.
  scope.addHook("onSend", (request, _reply, payload, done) => {
    request.heapReservation?.answered();
    done(null, payload);
  });
  return budget;
}

/** The request's expected peak heap, from its declared size (its route's body limit when it streams unsized). */
function costOf(request: FastifyRequest): number {
  const limit = request.routeOptions.bodyLimit;
  const declared = Number(request.headers["content-length"]);
  const chunked = request.headers["transfer-encoding"] !== undefined;
  const bytes = Number.isSafeInteger(declared) && declared >= 0 ? Math.min(declared, limit) : chunked ? limit : 0;
  return requestCostBytes(bytes, request.routeOptions.config.maxReadings ?? 1);
}

function shed(reply: FastifyReply) {
  return sendAnswer(reply, {
    status: 503,
    retryAfterSeconds: RETRY_AFTER_SECONDS,
    body: { error: "Overloaded (heap): the request was not accepted. Retry later." },
  });
}

/**
 * Samples the used heap after each mark-compact: the live heap then, without the garbage a scavenge leaves in old
 * space (up to twice the live heap in a 160 MiB old space under batch load).
 */
export const watchFullCollections: CollectionWatch = (onCollection) => {
  const observer = new PerformanceObserver((list) => {
    const full = list.getEntries().some((entry) => gcKind(entry) === constants.NODE_PERFORMANCE_GC_MAJOR);
    if (full) onCollection(usedHeapBytes());
  });
  observer.observe({ entryTypes: ["gc"] });
  return () => observer.disconnect();
};

/** A `gc` entry's kind (its `detail.kind`, which the PerformanceEntry type does not declare). */
const gcKind = (entry: PerformanceEntry): number | undefined => (entry as { detail?: { kind?: number } }).detail?.kind;

function reservedGauge(registry: Registry): Gauge {
  return metricOnce(
    registry,
    "ingest_heap_reserved_bytes",
    () =>
      new Gauge({
        name: "ingest_heap_reserved_bytes",
        help:
          "Heap reserved by /ingest/* requests in flight (each its estimated peak), counted against the heap budget " +
          "(SHED_HEAP_PERCENT)",
        registers: [registry],
      }),
  );
}
