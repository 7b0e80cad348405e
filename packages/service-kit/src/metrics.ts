import { collectDefaultMetrics, Gauge, Registry } from "prom-client";
import type { NatsLink } from "./nats.js";

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

/**
 * `event_bus_nats_connected`: 1 while the process holds a NATS connection, 0 while it
 * reconnects. Read at scrape time, so it cannot lag the link. During a full NATS outage
 * ingest leaves the Service (readiness) and its 503s are never counted, and normalize has
 * nothing pending to alert on: this gauge is what pages (EventBusNatsDisconnected).
 */
export function recordNatsConnection(registry: Registry, link: Pick<NatsLink, "state">): void {
  new Gauge({
    name: "event_bus_nats_connected",
    help:
      "1 while this process is connected to NATS, 0 while it reconnects " +
      "(it exits when the connection closes for good)",
    registers: [registry],
    collect() {
      this.set(link.state() === "connected" ? 1 : 0);
    },
  });
}
