import { PublishError, type EventPublisher, type PublishRequest } from "@aa/event-bus";
import type { PublishOutcome } from "./core.js";

/**
 * Publishes and waits for the PubAck. A `PublishError` (JetStream did not take the event within the retry budget) is
 * the outcome `accepted: false`, with the error for the log; anything else is a bug and throws.
 */
export async function publishOutcome(
  publisher: EventPublisher,
  request: PublishRequest<unknown>,
): Promise<PublishOutcome & { error?: PublishError }> {
  try {
    const receipt = await publisher.publish(request);
    return { accepted: true, duplicate: receipt.duplicate };
  } catch (error) {
    if (!(error instanceof PublishError)) throw error;
    return { accepted: false, error };
  }
}
