import type { FastifyReply } from "fastify";
import type { HttpAnswer } from "../readings/core.js";

/** Sends a decided answer, with its Retry-After header when it has one. */
export function sendAnswer(reply: FastifyReply, answer: HttpAnswer) {
  if (answer.retryAfterSeconds !== undefined) reply.header("Retry-After", String(answer.retryAfterSeconds));
  return reply.code(answer.status).send(answer.body);
}
