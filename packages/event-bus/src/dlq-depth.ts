import type { JetStreamManager } from "@nats-io/jetstream";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { DlqReasons } from "./dlq.js";
import { dlqDepthMetric } from "./metrics.js";

const KNOWN_REASONS: ReadonlySet<string> = new Set(Object.values(DlqReasons));

/**
 * The reason of a DLQ subject: its last token (`dlq.normalize.hrv.raw-received.max-deliver`
 * → `max_deliver`), `other` when it is not a known reason, so label values stay bounded.
 */
export function reasonOfDlqSubject(subject: string): string {
  const reason = (subject.split(".").at(-1) ?? "").replaceAll("-", "_");
  return KNOWN_REASONS.has(reason) ? reason : "other";
}

/** Messages per reason in the DLQ stream, from the server's per-subject counts (one request). */
export async function dlqDepthByReason(jsm: JetStreamManager, stream: string): Promise<Map<string, number>> {
  const info = await jsm.streams.info(stream, { subjects_filter: ">" });
  const depth = new Map<string, number>();
  for (const [subject, count] of Object.entries(info.state.subjects ?? {})) {
    const reason = reasonOfDlqSubject(subject);
    depth.set(reason, (depth.get(reason) ?? 0) + count);
  }
  return depth;
}

export interface DlqDepthRefresherOptions {
  jsm: JetStreamManager;
  registry: Registry;
  /** The DLQ stream (STREAM_DLQ_NAME). */
  stream: string;
  logger: Logger;
  /** How often the stream is read, in ms (default 5 000). */
  intervalMs?: number;
}

export interface DlqDepthRefresher {
  /** Reads the stream now and updates the gauge; never throws (a failure is logged once per streak). */
  refresh(): Promise<void>;
  stop(): void;
}

/**
 * Keeps `dlq_depth_messages{reason}` equal to what the DLQ stream holds. Every known reason
 * is always exported (0 when none), so an alert on the series is never blind for lack of it.
 */
export function startDlqDepthRefresher(options: DlqDepthRefresherOptions): DlqDepthRefresher {
  const gauge = dlqDepthMetric(options.registry);
  let failing = false;
  const refresh = async (): Promise<void> => {
    try {
      const depth = await dlqDepthByReason(options.jsm, options.stream);
      for (const reason of KNOWN_REASONS) gauge.set({ reason }, depth.get(reason) ?? 0);
      gauge.set({ reason: "other" }, depth.get("other") ?? 0);
      if (failing) options.logger.info(`[event-bus] DLQ depth of ${options.stream} readable again`);
      failing = false;
    } catch (error) {
      if (!failing)
        options.logger.warn(
          { err: error, stream: options.stream },
          `[event-bus] cannot read DLQ depth of ${options.stream}; dlq_depth_messages keeps its last values`,
        );
      failing = true;
    }
  };
  void refresh();
  const timer = setInterval(() => void refresh(), options.intervalMs ?? 5_000);
  timer.unref();
  return { refresh, stop: () => clearInterval(timer) };
}
