/**
 * The PromQL of `soak-check --prometheus-url`, built in one place so every query carries the same
 * scope. One Prometheus may scrape staging and production (deploy/prometheus/prometheus.yml sets
 * `namespace` on every target): without the namespace matcher, staging's restarts, dead letters
 * and readings would be judged as production's.
 */

/** What the queries look at. */
export interface SoakQueryScope {
  /** The window, in seconds, back from the evaluation time. */
  seconds: number;
  /** Kubernetes namespace of the environment judged; undefined: every namespace Prometheus has. */
  namespace: string | undefined;
  /** Matchers of the services' processes (restarts, `up`), e.g. `job=~"ingest-service|normalize-service"`. */
  selector: string;
  /** `topic` label of the HRV events ingest publishes. */
  hrvTopic: string;
  /** HRV durable whose successes are counted per stream. */
  hrvDurable: string;
}

/** One query per criterion input; all are instant queries evaluated at the window's end. */
export interface SoakQueries {
  bound: string;
  successes: string;
  dlqPeakPerMinute: string;
  starts: string;
  down: string;
  acceptedSamples: string;
  published: (status: "success" | "duplicate") => string;
}

/** A Kubernetes namespace name (RFC 1123 label): also keeps anything else out of the PromQL. */
export const NAMESPACE_PATTERN = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** `{a, b}` from matchers, leaving out the empty ones. */
const braces = (...matchers: string[]): string => `{${matchers.filter((m) => m !== "").join(",")}}`;

export function soakQueries(scope: SoakQueryScope): SoakQueries {
  const ns = scope.namespace === undefined ? "" : `namespace="${scope.namespace}"`;
  const range = `[${scope.seconds}s]`;
  const accepted = (status: string) =>
    `event_bus_events_published_total${braces(`topic="${scope.hrvTopic}"`, `status="${status}"`, ns)}`;
  const successes = braces('result="success"', `durable="${scope.hrvDurable}"`, ns);
  return {
    bound: `max_over_time(event_bus_consumer_bound${braces(ns)}${range})`,
    successes: `sum by (stream) (increase(normalize_hrv_messages_total${successes}${range}))`,
    dlqPeakPerMinute: `max_over_time((sum(rate(dlq_messages_total${braces(ns)}[1m])) * 60)[${scope.seconds}s:1m])`,
    starts: `max_over_time(process_start_time_seconds${braces(scope.selector, ns)}${range})`,
    down: `min_over_time(up${braces(scope.selector, ns)}${range}) == 0`,
    acceptedSamples: `min(count_over_time(${accepted("success")}${range}))`,
    published: (status) => `sum(increase(${accepted(status)}${range}))`,
  };
}
