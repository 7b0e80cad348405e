import { collectDefaultMetrics, Registry } from "prom-client";

/** The one metrics registry of a process, with default process metrics registered once. */
export function createMetricsRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  return registry;
}
