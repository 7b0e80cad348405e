import { ReadingKinds } from "./reading-kinds.js";

type Kinds = typeof ReadingKinds;
/** `<kind>RawReceived` and `<kind>NormalizedStored` of every reading kind. */
type ReadingSubjects = {
  [K in keyof Kinds as `${K}RawReceived`]: Kinds[K]["subjects"]["rawReceived"];
} & {
  [K in keyof Kinds as `${K}NormalizedStored`]: Kinds[K]["subjects"]["normalizedStored"];
};

function readingSubjects(): ReadingSubjects {
  const entries = Object.values(ReadingKinds).flatMap(({ kind, subjects }) => [
    [`${kind}RawReceived`, subjects.rawReceived],
    [`${kind}NormalizedStored`, subjects.normalizedStored],
  ]);
  return Object.fromEntries(entries) as ReadingSubjects;
}

/**
 * The subject catalogue: every subject the pipeline publishes or consumes, with the
 * `topic` key used as the bounded label value of `event_bus_events_published_total`.
 * Each reading kind's two subjects come from its contract (`ReadingKinds`).
 */
export const Subjects = {
  ...readingSubjects(),
  onboardingCompleted: { subject: "athlete-ally.onboarding.completed", topic: "onboarding_completed" },
  planGenerationRequested: { subject: "athlete-ally.plan.generation-requested", topic: "plan_generation_requested" },
  planGenerated: { subject: "athlete-ally.plan.generated", topic: "plan_generated" },
  planGenerationFailed: { subject: "athlete-ally.plan.generation-failed", topic: "plan_generation_failed" },
  ouraWebhookReceived: { subject: "vendor.oura.webhook.received", topic: "oura_webhook_received" },
} as const;

export type SubjectKey = keyof typeof Subjects;
export type Subject = (typeof Subjects)[SubjectKey]["subject"];
export type Topic = (typeof Subjects)[SubjectKey]["topic"];

/** Subject patterns owned by each stream family; two streams may not own overlapping subjects. */
export const SubjectPatterns = {
  core: ["athlete-ally.>", "sleep.*"],
  vendor: ["vendor.>"],
  legacy: ["athlete-ally.>", "vendor.>", "sleep.*"],
  dlq: ["dlq.>"],
} as const;

/** The DLQ subject prefix of a consumer: `dlq.<service>.<subject without the app prefix>`. */
export function dlqSubjectPrefix(service: string, subject: string): string {
  const rest = subject.replace(/^athlete-ally\./, "");
  return `dlq.${service}.${rest}`;
}

/** The topic label for a subject; unknown subjects map to `other` so labels stay bounded. */
export function topicOf(subject: string): Topic | "other" {
  for (const entry of Object.values(Subjects)) {
    if (entry.subject === subject) return entry.topic;
  }
  return "other";
}
