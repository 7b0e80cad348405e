import { Counter, Histogram, type Registry } from "prom-client";

/** `normalize_<kind>_messages_total` and `normalize_<kind>_publish_to_stored_seconds` of one kind of reading. */
export function readingMetrics(registry: Registry, kind: string, label: string) {
  return {
    messages: new Counter({
      name: `normalize_${kind}_messages_total`,
      help: `${label} messages handled, by result (success, schema_invalid, retry, dlq), subject, stream and durable`,
      labelNames: ["result", "subject", "stream", "durable"] as const,
      registers: [registry],
    }),
    latency: new Histogram({
      name: `normalize_${kind}_publish_to_stored_seconds`,
      help: "Time from the raw event's JetStream publish to its row being committed",
      labelNames: ["stream", "durable"] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
  };
}
