import { Counter, Gauge, Histogram, type Registry } from "prom-client";

/** Returns the metric already registered under `name`, or registers a new one: one series per registry. */
function once<T>(registry: Registry, name: string, create: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}

/** What `once` should register under a new name, and the name dashboards still query. */
interface Renamed {
  name: string;
  deprecatedName: string;
  help: string;
}

/** A scrape hook that copies `source`'s series into the metric being scraped. */
const copyOf = (source: Counter | Gauge) =>
  async function (this: Counter | Gauge): Promise<void> {
    const { values } = await source.get();
    this.reset();
    for (const { labels, value } of values) {
      if (this instanceof Gauge) this.set(labels, value);
      else this.inc(labels, value);
    }
  };

/**
 * Registers `make(name)` and, beside it, `make(deprecatedName)` whose series are copied from the first at
 * each scrape, so the two names always show the same values. The `dlq_*` metrics lacked the `event_bus_`
 * prefix the others have; their old names stay until the dashboards and alerts query the new ones.
 */
function withDeprecatedName<M extends Counter | Gauge>(
  names: Renamed,
  make: (name: string, help: string, collect?: ReturnType<typeof copyOf>) => M,
): M {
  const metric = make(names.name, names.help);
  make(names.deprecatedName, `Deprecated: use ${names.name} (the same series). ${names.help}`, copyOf(metric));
  return metric;
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

const DLQ_MESSAGES: Renamed = {
  name: "event_bus_dlq_messages_total",
  deprecatedName: "dlq_messages_total",
  help: "Messages copied to the dead-letter stream, by consumer and reason",
};
const DLQ_REPLAYED: Renamed = {
  name: "event_bus_dlq_replayed_total",
  deprecatedName: "dlq_replayed_total",
  help:
    "Messages republished by `aa-ops dlq replay` (header X-Dlq-Replayed-From) as the consumer finished " +
    "them: success, schema_invalid or dlq (dead-lettered again)",
};
const DLQ_DEPTH: Renamed = {
  name: "event_bus_dlq_depth_messages",
  deprecatedName: "dlq_depth_messages",
  help:
    "Messages held by the dead-letter stream, by reason (from the last token of their dlq.> subject); " +
    "refreshed every few seconds",
};

export function consumerMetrics(registry: Registry) {
  return {
    dlq: once(registry, DLQ_MESSAGES.name, () =>
      withDeprecatedName(
        DLQ_MESSAGES,
        (name, help, collect) =>
          new Counter({ name, help, collect, labelNames: ["consumer", "reason"] as const, registers: [registry] }),
      ),
    ),
    replayed: once(registry, DLQ_REPLAYED.name, () => {
      const counter = withDeprecatedName(
        DLQ_REPLAYED,
        (name, help, collect) =>
          new Counter({ name, help, collect, labelNames: ["result"] as const, registers: [registry] }),
      );
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

/** `event_bus_dlq_depth_messages{reason}`: messages in the DLQ stream now, refreshed by `startDlqDepthRefresher`. */
export function dlqDepthMetric(registry: Registry) {
  return once(registry, DLQ_DEPTH.name, () =>
    withDeprecatedName(
      DLQ_DEPTH,
      (name, help, collect) =>
        new Gauge({ name, help, collect, labelNames: ["reason"] as const, registers: [registry] }),
    ),
  );
}
