import { randomBytes } from "node:crypto";
import { Subjects } from "@aa/contracts";
import { isNotFound, owningStream, type Topology, type TopologyNames } from "@aa/event-bus";
import { AckPolicy, DeliverPolicy, type JetStreamManager } from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import type { Check } from "../checks.js";
import { openDatabase, type DatabaseTarget } from "../database.js";
import { errorMessage } from "../output.js";
import { prometheusConfigYaml, queryPrometheus, samplesOf, scrape, type Sample } from "../prometheus.js";
import {
  judgeBindings,
  judgeDlq,
  judgeRestarts,
  judgeRows,
  judgeSuccesses,
  processName,
  type ProcessStart,
  type Read,
  type SoakWindow,
} from "./criteria.js";
import { soakQueries } from "./queries.js";
import { runbookLinkWarning } from "./runbook-links.js";

const HRV = Subjects.hrvRawReceived;

/** Prometheus and the scope of its queries (namespace undefined: every namespace it scrapes). */
export interface PrometheusSource {
  url: string;
  /** Label matchers of the services' processes, e.g. `job=~"ingest-service|normalize-service"`. */
  selector: string;
  namespace: string | undefined;
}

/** What the Success Criteria are judged on. */
export interface SoakTarget {
  topology: Topology;
  names: TopologyNames;
  /** Range queries over the window; undefined: one scrape of each service's /metrics. */
  prometheus: PrometheusSource | undefined;
  /** Scraped for /metrics when there is no Prometheus. */
  ingestUrl: string;
  normalizeUrl: string;
  /** Where hrv_data is; opened only to count rows, so its failure is an UNKNOWN criterion, not a crash. */
  database: DatabaseTarget;
  /** Missing rows tolerated, in % of accepted readings (at least 2 rows). */
  tolerancePercent: number;
}

/** The window `since` back from `end`. */
export function soakWindow(since: { text: string; seconds: number }, end: Date): SoakWindow {
  return { ...since, start: new Date(end.getTime() - since.seconds * 1000), end };
}

async function attempt<T>(read: () => Promise<T>): Promise<Read<T>> {
  try {
    return await read();
  } catch (error) {
    return error instanceof Error ? error : new Error(errorMessage(error));
  }
}

const mapRead = <T, U>(value: Read<T>, f: (v: T) => U): Read<U> => (value instanceof Error ? value : f(value));

/**
 * Messages stored in the stream since `start`: the num_pending of a temporary consumer that
 * starts there (memory, no acks, deleted at once and expiring by itself after a minute).
 */
async function enteredSince(jsm: JetStreamManager, stream: string, start: Date): Promise<number> {
  try {
    const info = await jsm.consumers.add(stream, {
      name: `aa-ops-soak-${randomBytes(4).toString("hex")}`,
      description: "aa-ops soak-check: counts messages since the window start (temporary)",
      ack_policy: AckPolicy.None,
      deliver_policy: DeliverPolicy.StartTime,
      opt_start_time: start.toISOString(),
      inactive_threshold: nanos(60_000),
      mem_storage: true,
    });
    await jsm.consumers.delete(stream, info.name).catch(() => undefined);
    return info.num_pending;
  } catch (error) {
    throw isNotFound(error) ? new Error(`stream ${stream} does not exist`) : error;
  }
}

async function rowsWritten(database: DatabaseTarget, w: SoakWindow): Promise<number> {
  const pool = openDatabase(database);
  try {
    const { rows } = await pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM hrv_data WHERE updated_at >= $1 AND updated_at <= $2",
      [w.start, w.end],
    );
    return rows[0]?.n ?? 0;
  } finally {
    await pool.end().catch(() => undefined);
  }
}

function expectedStream(topology: Topology): (durable: string) => string | undefined {
  return (durable) => {
    const spec = topology.consumers.find((c) => c.durable === durable);
    return spec && owningStream(topology.streams, spec.filterSubject);
  };
}

const targetStream = (t: SoakTarget): string => owningStream(t.topology.streams, HRV.subject) ?? "?";

/** Every criterion from Prometheus range queries over the window, plus the DLQ stream and hrv_data. */
async function fromPrometheus(
  jsm: JetStreamManager,
  t: SoakTarget,
  prometheus: PrometheusSource,
  w: SoakWindow,
): Promise<Check[]> {
  const q = (query: string) => attempt(() => queryPrometheus(prometheus.url, query, w.end));
  const queries = soakQueries({
    seconds: w.seconds,
    namespace: prometheus.namespace,
    selector: prometheus.selector,
    hrvTopic: HRV.topic,
    hrvDurable: t.names.hrvDurable,
  });
  const bound = await q(queries.bound);
  const successes = await q(queries.successes);
  const peak = mapRead(await q(queries.dlqPeakPerMinute), (s) => s[0]?.value ?? null);
  const starts = mapRead(await q(queries.starts), (s) =>
    s.map((x) => ({ who: processName(x.labels), startedAt: x.value })),
  );
  const down = mapRead(await q(queries.down), (s) => s.map((x) => processName(x.labels)));
  const samples = mapRead(await q(queries.acceptedSamples), (s) => s[0]?.value ?? null);
  const rows = {
    accepted: await q(queries.published("success")),
    duplicates: await q(queries.published("duplicate")),
    samples,
    rows: await attempt(() => rowsWritten(t.database, w)),
    tolerancePercent: t.tolerancePercent,
  };
  return [
    judgeBindings(bound, expectedStream(t.topology), "prometheus"),
    judgeSuccesses(successes, targetStream(t), w, undefined),
    judgeDlq(t.names.dlq, await attempt(() => enteredSince(jsm, t.names.dlq, w.start)), peak, w),
    judgeRows(rows),
    judgeRestarts(starts, down, w, "prometheus"),
  ];
}

const startOf = (samples: readonly Sample[]): number | undefined =>
  samplesOf(samples, "process_start_time_seconds")[0]?.value;

function scrapedStarts(scrapes: { who: string; samples: Read<Sample[]> }[]): {
  starts: Read<ProcessStart[]>;
  down: Read<string[]>;
} {
  const starts = scrapes.flatMap(({ who, samples }) => {
    const startedAt = samples instanceof Error ? undefined : startOf(samples);
    return startedAt === undefined ? [] : [{ who, startedAt }];
  });
  const failed = scrapes.flatMap(({ samples }) => (samples instanceof Error ? [samples.message] : []));
  if (starts.length === 0)
    return { starts: new Error(failed.join("; ") || "no process_start_time_seconds in /metrics"), down: [] };
  return { starts, down: failed.length > 0 ? new Error(failed.join("; ")) : [] };
}

/** One scrape of each service: what the present shows; window-based criteria stay UNKNOWN unless already failed. */
async function fromScrape(jsm: JetStreamManager, t: SoakTarget, w: SoakWindow): Promise<Check[]> {
  const normalize = await attempt(() => scrape(t.normalizeUrl));
  const ingest = await attempt(() => scrape(t.ingestUrl));
  const successes = mapRead(normalize, (s) =>
    samplesOf(s, "normalize_hrv_messages_total", { result: "success", durable: t.names.hrvDurable }),
  );
  const { starts, down } = scrapedStarts([
    { who: `ingest-service ${t.ingestUrl}`, samples: ingest },
    { who: `normalize-service ${t.normalizeUrl}`, samples: normalize },
  ]);
  return [
    judgeBindings(
      mapRead(normalize, (s) => samplesOf(s, "event_bus_consumer_bound")),
      expectedStream(t.topology),
      "scrape",
    ),
    judgeSuccesses(successes, targetStream(t), w, {
      startedAt: normalize instanceof Error ? undefined : startOf(normalize),
    }),
    judgeDlq(t.names.dlq, await attempt(() => enteredSince(jsm, t.names.dlq, w.start)), undefined, w),
    judgeRows(undefined),
    judgeRestarts(starts, down, w, "scrape"),
  ];
}

/**
 * The runbook's Success Criteria over the window, one check each: from Prometheus when the target names
 * one, else from one scrape of each service (criteria a scrape cannot judge are UNKNOWN). Never throws
 * for a criterion; a value that cannot be read makes it UNKNOWN.
 */
export function evaluateSoak(jsm: JetStreamManager, t: SoakTarget, w: SoakWindow): Promise<Check[]> {
  return t.prometheus ? fromPrometheus(jsm, t, t.prometheus, w) : fromScrape(jsm, t, w);
}

/**
 * What is wrong with the monitoring itself, not a criterion (the exit code ignores it): alerts
 * whose runbook links open nowhere.
 */
export async function monitoringWarnings(prometheus: PrometheusSource | undefined): Promise<string[]> {
  if (prometheus === undefined) return [];
  const yaml = await attempt(() => prometheusConfigYaml(prometheus.url));
  if (yaml instanceof Error) return [`cannot check runbook_base_url: ${yaml.message}`];
  const warning = runbookLinkWarning(yaml);
  return warning === undefined ? [] : [warning];
}
