import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { freePort, startNats, type PrivateNats } from "./helpers/nats.js";
import { baseUrl, startService, type RunningService } from "./helpers/service.js";
import { applyTopology, streamMessages } from "./helpers/stack.js";

const HRV = "athlete-ally.hrv.raw-received";
const BATCH_LIMIT = 2_097_152;
const READINGS = 1_000;
const [WAVES, PER_WAVE] = [3, 50];

/**
 * 1,000 HRV readings padded in `raw` to just under the 2 MiB batch limit, without event ids: each accepted reading
 * gets a new one, so every acceptance is one more message in the stream.
 */
function largeBatch(): Uint8Array<ArrayBuffer> {
  const item = (pad: number) => ({
    userId: "heap-burst",
    date: "2025-10-02",
    rmssd: 50,
    raw: { blob: "x".repeat(pad) },
  });
  const size = (pad: number) => JSON.stringify({ items: Array.from({ length: READINGS }, () => item(pad)) }).length;
  const pad = Math.floor((BATCH_LIMIT - size(0)) / READINGS) - 1;
  const body = JSON.stringify({ items: Array.from({ length: READINGS }, () => item(pad)) });
  assert.ok(body.length <= BATCH_LIMIT && body.length > BATCH_LIMIT - 2 * READINGS, `body of ${body.length} bytes`);
  return new TextEncoder().encode(body);
}

interface Answer {
  status: number;
  retryAfter: string | null;
  body: { error?: string; received?: number };
}

async function postBatch(url: string, body: Uint8Array<ArrayBuffer>): Promise<Answer> {
  const response = await fetch(`${url}/ingest/hrv/batch`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
  });
  const answer = (await response.json()) as Answer["body"];
  return { status: response.status, retryAfter: response.headers.get("retry-after"), body: answer };
}

const metricValue = (text: string, series: string) =>
  Number(new RegExp(`^${series.replace(/[{}"]/g, "\\$&")} (\\S+)$`, "m").exec(text)?.[1]);

describe("ingest under a burst of large batches: 503 + Retry-After before the heap cap, never out of memory", () => {
  let nats: PrivateNats;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let ingest: RunningService;
  let url: string;

  before(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.url });
    jsm = await jetstreamManager(nc);
    await applyTopology(jsm, "multi");
    const port = String(await freePort());
    url = baseUrl(port);
    // 96 MiB of old space: 150 batches of 2 MiB, each holding about 6 MiB until its PubAcks, overrun it many times
    // over. Event-loop shedding is off, so the heap budget alone decides. Semi-spaces pinned at 16 MiB, as deployed.
    const env = { NATS_URL: nats.url, EVENT_STREAM_MODE: "multi", HOST: "127.0.0.1", PORT: port };
    ingest = startService(
      "ingest",
      { ...env, MAX_EVENT_LOOP_DELAY_MS: "0", SHED_HEAP_PERCENT: "85" },
      { nodeFlags: ["--max-old-space-size=96", "--max-semi-space-size=16"] },
    );
    await ingest.waitForLog("[ingest] Listening on");
  });

  after(async () => {
    await ingest?.stop();
    await nc?.close();
    await nats?.stop();
  });

  test("waves of concurrent 2 MiB batches: some 202, the rest 503 + Retry-After, exactly the accepted stored", async (t) => {
    assert.match(ingest.messages().join("\n"), /Heap budget 54\.4 MiB \(85% of 64\.0 MiB/);
    const body = largeBatch();
    const before = await streamMessages(jsm, "AA_CORE_HOT", HRV);
    const answers: Answer[] = [];
    for (let wave = 0; wave < WAVES; wave++)
      answers.push(...(await Promise.all(Array.from({ length: PER_WAVE }, () => postBatch(url, body)))));

    assert.equal(ingest.process.exitCode, null, `ingest exited:\n${ingest.lines.slice(-20).join("\n")}`);
    const health = await fetch(`${url}/health`);
    assert.equal(health.status, 200, "alive and connected after the burst");

    const accepted = answers.filter((a) => a.status === 202);
    const shed = answers.filter((a) => a.status === 503);
    const counts = `${accepted.length} accepted, ${shed.length} shed of ${answers.length}`;
    assert.equal(accepted.length + shed.length, answers.length, `only 202 or 503: ${answers.map((a) => a.status)}`);
    assert.ok(accepted.length > 0 && shed.length > 0, counts);
    for (const answer of accepted) assert.equal(answer.body.received, READINGS);
    for (const answer of shed) {
      assert.equal(answer.retryAfter, "5");
      assert.equal(answer.body.error, "Overloaded (heap): the request was not accepted. Retry later.");
    }
    assert.equal(
      (await streamMessages(jsm, "AA_CORE_HOT", HRV)) - before,
      accepted.length * READINGS,
      `every reading of the ${accepted.length} accepted batches stored, nothing of the shed ones (${counts})`,
    );

    const metrics = await (await fetch(`${url}/metrics`)).text();
    assert.equal(metricValue(metrics, 'ingest_requests_rejected_total{reason="overloaded_memory"}'), shed.length);
    assert.equal(metricValue(metrics, "ingest_heap_reserved_bytes"), 0, "every reservation returned");
    t.diagnostic(`heap burst: ${counts}`);
  });
});
