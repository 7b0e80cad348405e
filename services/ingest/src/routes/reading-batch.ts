import { randomUUID } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { PublishError, type EventPublisher } from "@aa/event-bus";
import type { FieldError } from "@aa/contracts";
import { readingPublish, RETRY_AFTER_SECONDS, type ReadingRoute } from "./reading.js";

/** Most readings in one batch request. */
export const MAX_BATCH_ITEMS = 1_000;

type ItemResult =
  | { index: number; status: "received"; eventId: string; duplicate?: true }
  | { index: number; status: "rejected"; errors: FieldError[] }
  | { index: number; status: "unavailable"; eventId: string };

/** The body must be `{"items": [reading, ...]}` with 1 to 1,000 readings. */
function itemsOf(body: unknown): unknown[] | string {
  const items = (body as { items?: unknown } | null)?.items;
  if (body === null || typeof body !== "object" || Array.isArray(body) || !Array.isArray(items))
    return 'must be an object {"items": [reading, ...]}';
  if (Object.keys(body).length !== 1) return 'must have only the field "items"';
  if (items.length === 0 || items.length > MAX_BATCH_ITEMS)
    return `items must hold 1 to ${MAX_BATCH_ITEMS} readings, got ${items.length}`;
  return items;
}

function statusOf(results: readonly ItemResult[]): number {
  if (results.some((r) => r.status === "unavailable")) return 503;
  return results.some((r) => r.status === "rejected") ? 207 : 202;
}

/**
 * `POST /ingest/<kind>/batch`: each reading validated on its own, the valid ones published
 * with pipelined PubAcks; the reply comes after every accepted reading is acknowledged.
 * 202 all received, 207 some rejected, 503 (+ Retry-After) when JetStream did not take some:
 * retry those with the same eventIds.
 */
export function readingBatchRoutes<R extends { eventId?: string; userId: string }>(
  route: ReadingRoute<R>,
  publisher: EventPublisher,
  now: () => Date,
  bodyLimitBytes: number,
) {
  return async (app: FastifyInstance): Promise<void> => {
    const handler = async (request: FastifyRequest, reply: FastifyReply) => {
      const items = itemsOf(request.body);
      if (typeof items === "string")
        return reply
          .code(400)
          .send({ error: `Invalid ${route.noun} batch`, details: [{ field: "(body)", message: items }] });
      const receivedAt = now().toISOString();
      const results = await Promise.all(
        items.map(async (item, index): Promise<ItemResult> => {
          const reading = route.validateReading(item, now());
          if (!reading.ok) return { index, status: "rejected", errors: reading.errors };
          const eventId = reading.value.eventId ?? randomUUID();
          try {
            const receipt = await publisher.publish(readingPublish(route, reading.value, eventId, request, receivedAt));
            return receipt.duplicate
              ? { index, status: "received", eventId, duplicate: true }
              : { index, status: "received", eventId };
          } catch (error) {
            if (!(error instanceof PublishError)) throw error;
            return { index, status: "unavailable", eventId };
          }
        }),
      );
      const status = statusOf(results);
      if (status === 503) reply.header("Retry-After", String(RETRY_AFTER_SECONDS));
      const count = (s: ItemResult["status"]) => results.filter((r) => r.status === s).length;
      return reply.code(status).send({
        received: count("received"),
        rejected: count("rejected"),
        unavailable: count("unavailable"),
        timestamp: receivedAt,
        results,
      });
    };
    const options = { bodyLimit: bodyLimitBytes };
    app.post(`/ingest/${route.kind}/batch`, options, handler);
    app.post(`/api/v1/ingest/${route.kind}/batch`, options, handler);
  };
}
