import { Subjects, SubjectPatterns } from "@aa/contracts";
import type { StreamMode } from "../mode.js";
import { DlqAccountingSubjects } from "../dlq-advisories.js";
import { coveringPattern } from "../subjects.js";

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** Stream and durable names; each overridable by the env var named beside it. */
export interface TopologyNames {
  /** STREAM_CORE_NAME, default AA_CORE_HOT */
  core: string;
  /** STREAM_VENDOR_NAME, default AA_VENDOR_HOT */
  vendor: string;
  /** STREAM_DLQ_NAME, default AA_DLQ */
  dlq: string;
  /** STREAM_DLQ_ADVISORIES_NAME, default AA_DLQ_ADVISORIES */
  dlqAdvisories: string;
  /** STREAM_LEGACY_NAME, default ATHLETE_ALLY_EVENTS */
  legacy: string;
  /** NORMALIZE_HRV_DURABLE, default normalize-hrv-durable */
  hrvDurable: string;
  /** NORMALIZE_SLEEP_DURABLE, default normalize-sleep-durable */
  sleepDurable: string;
  /** NORMALIZE_OURA_DURABLE, default normalize-oura */
  ouraDurable: string;
}

export const DEFAULT_TOPOLOGY_NAMES: TopologyNames = Object.freeze({
  core: "AA_CORE_HOT",
  vendor: "AA_VENDOR_HOT",
  dlq: "AA_DLQ",
  dlqAdvisories: "AA_DLQ_ADVISORIES",
  legacy: "ATHLETE_ALLY_EVENTS",
  hrvDurable: "normalize-hrv-durable",
  sleepDurable: "normalize-sleep-durable",
  ouraDurable: "normalize-oura",
});

/** Maps the env vars to names, falling back to the defaults. */
export function topologyNamesFromEnv(env: Record<string, string | undefined>): TopologyNames {
  const pick = (key: string, fallback: string): string => env[key]?.trim() || fallback;
  const d = DEFAULT_TOPOLOGY_NAMES;
  return Object.freeze({
    core: pick("STREAM_CORE_NAME", d.core),
    vendor: pick("STREAM_VENDOR_NAME", d.vendor),
    dlq: pick("STREAM_DLQ_NAME", d.dlq),
    dlqAdvisories: pick("STREAM_DLQ_ADVISORIES_NAME", d.dlqAdvisories),
    legacy: pick("STREAM_LEGACY_NAME", d.legacy),
    hrvDurable: pick("NORMALIZE_HRV_DURABLE", d.hrvDurable),
    sleepDurable: pick("NORMALIZE_SLEEP_DURABLE", d.sleepDurable),
    ouraDurable: pick("NORMALIZE_OURA_DURABLE", d.ouraDurable),
  });
}

/** A stream as we want it: file storage, limits retention, discard old. */
export interface StreamSpec {
  name: string;
  description: string;
  subjects: string[];
  maxAgeMs: number;
  duplicateWindowMs: number;
  replicas: number;
}

/** A durable pull consumer as we want it: explicit ack, deliver all. */
export interface ConsumerSpec {
  durable: string;
  description: string;
  filterSubject: string;
  ackWaitMs: number;
  maxDeliver: number;
  maxAckPending: number;
}

export interface Topology {
  mode: StreamMode;
  streams: StreamSpec[];
  consumers: ConsumerSpec[];
}

/** Every stream's duplicate window: a message id seen again within it is dropped (`PubAck.duplicate`). */
export const DUPLICATE_WINDOW_MS = 2 * 60_000;

function stream(
  name: string,
  description: string,
  subjects: readonly string[],
  maxAgeMs: number,
  replicas: number,
): StreamSpec {
  return { name, description, subjects: [...subjects], maxAgeMs, duplicateWindowMs: DUPLICATE_WINDOW_MS, replicas };
}

/** The three normalize durables; which stream holds each follows from its filter subject. */
export function consumerSpecs(names: TopologyNames): ConsumerSpec[] {
  const common = { maxDeliver: 5, maxAckPending: 1000 };
  return [
    {
      durable: names.hrvDurable,
      description: "HRV normalization consumer - processes raw HRV events",
      filterSubject: Subjects.hrvRawReceived.subject,
      ackWaitMs: 60_000,
      ...common,
    },
    {
      durable: names.sleepDurable,
      description: "Sleep normalization consumer - processes raw sleep events",
      filterSubject: Subjects.sleepRawReceived.subject,
      ackWaitMs: 60_000,
      ...common,
    },
    {
      durable: names.ouraDurable,
      description: "Oura webhook consumer - fetches and normalizes Oura data",
      filterSubject: Subjects.ouraWebhookReceived.subject,
      ackWaitMs: 15_000,
      ...common,
    },
  ];
}

/** The desired topology of a mode as data: each stream's subjects, max age and replicas (README's stream table). */
export function topologyFor(mode: StreamMode, names: TopologyNames, replicas: number): Topology {
  const dlq = stream(names.dlq, "Dead letter queue for failed messages", SubjectPatterns.dlq, 14 * DAY_MS, replicas);
  const advisories = stream(
    names.dlqAdvisories,
    "Dead-letter accounting: max-deliveries and terminated advisories, DLQ replay and purge log",
    DlqAccountingSubjects,
    14 * DAY_MS,
    replicas,
  );
  const streams =
    mode === "multi"
      ? [
          stream(
            names.core,
            "Core application events (HRV, sleep, onboarding, plan generation)",
            SubjectPatterns.core,
            48 * HOUR_MS,
            replicas,
          ),
          stream(names.vendor, "Vendor webhook events (Oura, etc.)", SubjectPatterns.vendor, 48 * HOUR_MS, replicas),
          dlq,
          advisories,
        ]
      : [
          stream(
            names.legacy,
            "Legacy single stream for all application and vendor events",
            SubjectPatterns.legacy,
            24 * HOUR_MS,
            replicas,
          ),
          dlq,
          advisories,
        ];
  return { mode, streams, consumers: consumerSpecs(names) };
}

/**
 * Streams a consumer may be bound on, in the order the runbook logs them. Without a subject
 * (the runbook's `Stream candidates` line) and for core subjects: multi `[core, legacy]`;
 * for a vendor subject (`vendor.>`): multi `[vendor, legacy]`. Single: `[legacy]`.
 */
export function streamCandidates(mode: StreamMode, names: TopologyNames, subject?: string): string[] {
  if (mode !== "multi") return [names.legacy];
  const vendor = subject !== undefined && coveringPattern(SubjectPatterns.vendor, subject) !== undefined;
  return [vendor ? names.vendor : names.core, names.legacy];
}

/** Event streams of the other mode: a durable there is followed or drained during a migration. */
export function otherModeStreams(mode: StreamMode, names: TopologyNames): string[] {
  return mode === "multi" ? [] : [names.core, names.vendor];
}
