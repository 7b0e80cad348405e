import Fastify from "fastify";
import { validateHrvReading } from "@aa/contracts";

// The HTTP layer alone, doing what ingest's reading routes do besides authenticating and publishing: parse the JSON
// body, check each reading with the same validator, answer with a body of the same shape. Its CPU per request is the
// HTTP part of the raw sum the pipeline's CPU per event is compared with.
const app = Fastify({ logger: false });
app.post("/ingest/hrv", async (request, reply) => {
  const reading = validateHrvReading(request.body, new Date());
  if (!reading.ok) return reply.code(400).send({ error: "Invalid HRV reading", details: reading.errors });
  return reply
    .code(202)
    .send({ status: "received", eventId: reading.value.eventId, timestamp: new Date().toISOString() });
});
app.post("/ingest/hrv/batch", { bodyLimit: 2_097_152 }, async (request, reply) => {
  const items = (request.body as { items?: unknown[] }).items ?? [];
  const now = new Date();
  const results = items.map((item, index) => {
    const reading = validateHrvReading(item, now);
    return reading.ok
      ? { index, status: "received", eventId: reading.value.eventId }
      : { index, status: "rejected", errors: reading.errors };
  });
  const received = results.filter((r) => r.status === "received").length;
  return reply.code(received === items.length ? 202 : 207).send({
    received,
    rejected: items.length - received,
    unavailable: 0,
    timestamp: now.toISOString(),
    results,
  });
});
app.get("/health", async () => ({ status: "healthy" }));
await app.listen({ port: Number(process.env.PORT), host: "127.0.0.1" });

const close = () => void app.close().then(() => process.exit(0));
process.once("SIGTERM", close);
process.once("SIGINT", close);
