import Fastify from "fastify";

// The ceiling of the HTTP layer alone: Fastify parses the JSON body and answers 200, nothing else.
const app = Fastify({ logger: false });
app.post("/ingest/hrv", async (request) => ({
  status: "received",
  fields: Object.keys(request.body as object).length,
}));
app.get("/health", async () => ({ status: "healthy" }));
await app.listen({ port: Number(process.env.PORT), host: "127.0.0.1" });

const close = () => void app.close().then(() => process.exit(0));
process.once("SIGTERM", close);
process.once("SIGINT", close);
