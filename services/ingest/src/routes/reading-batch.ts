import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { EventPublisher } from "@aa/event-bus";
import { sourceOf } from "../auth/principal.js";
import {
  acceptBatchItem,
  batchAnswer,
  batchItemsOf,
  invalidBatchAnswer,
  itemResult,
  MAX_BATCH_ITEMS,
  readingPublish,
  type ItemResult,
  type ReadingRoute,
} from "../readings/core.js";
import { publishOutcome } from "../readings/publish.js";
import { sendAnswer } from "./answer.js";

/**
 * `POST /ingest/<kind>/batch` (and `/api/v1/ingest/<kind>/batch`): each reading validated on its own, the valid ones
 * published with pipelined PubAcks; the reply comes after every accepted reading is acknowledged.
 */
export function readingBatchRoutes<R extends { eventId?: string; userId: string }>(
  route: ReadingRoute<R>,
  publisher: EventPublisher,
  now: () => Date,
  bodyLimitBytes: number,
) {
  return async (app: FastifyInstance): Promise<void> => {
    const handler = async (request: FastifyRequest, reply: FastifyReply) => {
      const batch = batchItemsOf(request.body);
      if (!batch.ok) return sendAnswer(reply, invalidBatchAnswer(route, batch.message));
      const receivedAt = now().toISOString();
      const source = sourceOf(request.principal);
      const results = await Promise.all(
        batch.items.map(async (item, index): Promise<ItemResult> => {
          const accepted = acceptBatchItem(route, item, index, now());
          if (!accepted.ok) return accepted.result;
          const { reading, eventId } = accepted;
          const outcome = await publishOutcome(publisher, readingPublish(route, reading, eventId, source, receivedAt));
          return itemResult(index, eventId, outcome);
        }),
      );
      return sendAnswer(reply, batchAnswer(results, receivedAt));
    };
    const options = { bodyLimit: bodyLimitBytes, config: { maxReadings: MAX_BATCH_ITEMS } };
    app.post(`/ingest/${route.kind}/batch`, options, handler);
    app.post(`/api/v1/ingest/${route.kind}/batch`, options, handler);
  };
}
