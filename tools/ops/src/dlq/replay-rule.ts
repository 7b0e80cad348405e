import { dlqSubjectPrefix } from "@aa/contracts";
import { consumerSpecs, DlqHeaders, type TopologyNames } from "@aa/event-bus";
import type { DlqEntry } from "./entry.js";

/**
 * The only subjects `dlq replay` publishes to: the raw subjects a durable of the topology consumes.
 * Whoever may publish to `dlq.>` chooses a DLQ entry's headers, and the operator running replay
 * holds `$JS.API.>`: without this list a forged header could make replay delete a stream.
 */
export function replayableSubjects(names: TopologyNames): ReadonlySet<string> {
  return new Set(consumerSpecs(names).map((consumer) => consumer.filterSubject));
}

/**
 * True when `dlqSubject` is where a consumer of `original` dead-letters:
 * `dlq.<service>.<original without "athlete-ally.">.<reason>` (see `dlqSubjectPrefix`), one token
 * each for service and reason. So an entry can only be replayed to the subject its DLQ subject names.
 */
export function dlqSubjectFits(dlqSubject: string, original: string): boolean {
  const tokens = dlqSubject.split(".");
  const service = tokens[1];
  const reason = tokens.at(-1);
  if (tokens[0] !== "dlq" || service === undefined || reason === undefined || tokens.length < 4) return false;
  return service !== "" && reason !== "" && dlqSubject === `${dlqSubjectPrefix(service, original)}.${reason}`;
}

/** Why replay must not publish this entry anywhere; undefined when it may go to its original subject. */
export function refusalOf(
  entry: Pick<DlqEntry, "subject" | "originalSubject">,
  allowed: ReadonlySet<string>,
): string | undefined {
  const original = entry.originalSubject;
  const header = DlqHeaders.originalSubject;
  if (original === "") return `no ${header} header: not a DLQ copy this pipeline wrote`;
  if (!allowed.has(original)) {
    const subjects = [...allowed].join(", ");
    return `${header} ${JSON.stringify(original)} is not a raw subject the pipeline's durables consume (${subjects})`;
  }
  if (!dlqSubjectFits(entry.subject, original)) {
    const expected = `${dlqSubjectPrefix("<service>", original)}.<reason>`;
    return `${header} ${original} does not match the DLQ subject ${entry.subject} (expected ${expected})`;
  }
  return undefined;
}
