import { collectDefaultMetrics, Registry } from "prom-client";

/**
 * The one metrics registry of a process, with default process metrics registered once.
 * No default labels: series keep exactly the labels the runbook greps for, and
 * Prometheus adds job/instance when it scrapes.
 */
export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}
