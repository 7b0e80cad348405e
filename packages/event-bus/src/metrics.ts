import { Counter, Gauge, Histogram, type Registry } from "prom-client";

/** Returns the metric already registered under `name`, or registers a new one: one series per registry. */
function once<T>(registry: Registry, name: string, create: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}

export function publishMetrics(registry: Registry) {
  return {
    published: once(
      registry,
      "event_bus_events_published_total",
      () =>
        new Counter({
          name: "event_bus_events_published_total",
          help: "Events published to JetStream, by topic and status (success, duplicate, error, schema_invalid)",
          labelNames: ["topic", "status"] as const,
          registers: [registry],
        }),
    ),
    duration: once(
      registry,
      "event_bus_publish_duration_seconds",
      () =>
        new Histogram({
          name: "event_bus_publish_duration_seconds",
          help: "Time from publish call to PubAck (including retries), by topic",
          labelNames: ["topic"] as const,
          buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
          registers: [registry],
        }),
    ),
  };
}
export type PublishMetrics = ReturnType<typeof publishMetrics>;

export function consumerMetrics(registry: Registry) {
  return {
    dlq: once(
      registry,
      "dlq_messages_total",
      () =>
        new Counter({
          name: "dlq_messages_total",
          help: "Messages copied to the dead-letter stream, by consumer and reason",
          labelNames: ["consumer", "reason"] as const,
          registers: [registry],
        }),
    ),
    replayed: once(registry, "dlq_replayed_total", () => {
      const counter = new Counter({
        name: "dlq_replayed_total",
        help:
          "Messages republished by `aa-ops dlq replay` (header X-Dlq-Replayed-From) as the consumer finished " +
          "them: success, schema_invalid or dlq (dead-lettered again)",
        labelNames: ["result"] as const,
        registers: [registry],
      });
      for (const result of ["success", "schema_invalid", "dlq"]) counter.inc({ result }, 0);
      return counter;
    }),
    bound: once(
      registry,
      "event_bus_consumer_bound",
      () =>
        new Gauge({
          name: "event_bus_consumer_bound",
          help: "1 for each stream a durable is bound to; role is primary (stream owns the subject) or drain_only",
          labelNames: ["durable", "stream", "role"] as const,
          registers: [registry],
        }),
    ),
    pending: once(
      registry,
      "event_bus_consumer_pending_messages",
      () =>
        new Gauge({
          name: "event_bus_consumer_pending_messages",
          help: "Messages not yet delivered to the durable (num_pending), refreshed every few seconds",
          labelNames: ["durable", "stream"] as const,
          registers: [registry],
        }),
    ),
    ackPending: once(
      registry,
      "event_bus_consumer_ack_pending_messages",
      () =>
        new Gauge({
          name: "event_bus_consumer_ack_pending_messages",
          help: "Messages delivered and not yet acknowledged (num_ack_pending)",
          labelNames: ["durable", "stream"] as const,
          registers: [registry],
        }),
    ),
    lastAck: once(
      registry,
      "event_bus_consumer_last_ack_timestamp_seconds",
      () =>
        new Gauge({
          name: "event_bus_consumer_last_ack_timestamp_seconds",
          help: "Unix time of the last message this process acknowledged on the durable",
          labelNames: ["durable", "stream"] as const,
          registers: [registry],
        }),
    ),
  };
}
export type ConsumerMetrics = ReturnType<typeof consumerMetrics>;

/** `event_bus_stream_mode_info{mode} 1`: lets alerts tell a fallback onto the legacy stream from single mode. */
export function recordStreamMode(registry: Registry, mode: string): void {
  const info = once(
    registry,
    "event_bus_stream_mode_info",
    () =>
      new Gauge({
        name: "event_bus_stream_mode_info",
        help: "1 for the stream mode (EVENT_STREAM_MODE: single or multi) this process runs in",
        labelNames: ["mode"] as const,
        registers: [registry],
      }),
  );
  info.reset();
  info.set({ mode }, 1);
}

/** `dlq_depth_messages{reason}`: messages in the DLQ stream now, refreshed by `startDlqDepthRefresher`. */
export function dlqDepthMetric(registry: Registry) {
  return once(
    registry,
    "dlq_depth_messages",
    () =>
      new Gauge({
        name: "dlq_depth_messages",
        help:
          "Messages held by the dead-letter stream, by reason (from the last token of their dlq.> subject); " +
          "refreshed every few seconds",
        labelNames: ["reason"] as const,
        registers: [registry],
      }),
  );
}
