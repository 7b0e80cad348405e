import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, describe, test } from "node:test";
import { parse } from "yaml";
import { ROOT } from "./helpers/ops-scripts.js";
import { startRulesPrometheus, type PromSample, type RulesPrometheus } from "./helpers/live-prometheus.js";
import { expandDashboardVariables, exposedNames, metricNames, SYNTHETIC_SERIES } from "./helpers/promql.js";
import { createStack, postJson, type Stack } from "./helpers/stack.js";
import { waitFor } from "./helpers/wait.js";

const RULES = `${ROOT}/deploy/prometheus/rules/event-bus.rules.yml`;
const DASHBOARD = `${ROOT}/deploy/grafana/event-bus-multi-stream-overview.json`;
const JOBS = ["ingest-service", "normalize-service"] as const;
const HRV_SUBJECT = "athlete-ally.hrv.raw-received";

interface Target {
  refId: string;
  expr: string;
}
interface Panel {
  id: number;
  title: string;
  targets: Target[];
}
interface RuleGroup {
  rules: { alert?: string; expr: string }[];
}

const dashboardPanels = async () => (JSON.parse(await readFile(DASHBOARD, "utf8")) as { panels: Panel[] }).panels;
const ruleExprs = async () =>
  (parse(await readFile(RULES, "utf8")) as { groups: RuleGroup[] }).groups.flatMap((g) => g.rules);
const hostOf = (url: string) => new URL(url).host;
const today = () => new Date().toISOString().slice(0, 10);
const finite = (samples: PromSample[]) => samples.filter((s) => Number.isFinite(Number(s.value[1])));

async function scrape(url: string): Promise<string> {
  const response = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5_000) });
  assert.equal(response.status, 200);
  return await response.text();
}

describe("observability: a real Prometheus scraping the live stack", () => {
  let stack: Stack;
  let prom: RulesPrometheus | undefined;

  /** Waits until `expr` returns at least one finite sample; returns those samples. */
  const data = (expr: string, timeoutMs = 30_000) =>
    waitFor(
      async () => {
        const samples = finite(await prom!.query(expr));
        return samples.length > 0 ? samples : undefined;
      },
      { timeoutMs, intervalMs: 500, what: `data for ${expr}\n--- prometheus log:\n${prom!.log()}` },
    );

  before(async () => {
    stack = await createStack({ mode: "multi" });
    await stack.startNormalize();
    await stack.startIngest();
    // HTTP series appear with their first request (status codes are not known in advance):
    // one of each before Prometheus starts, so the traffic below is an increase it can see.
    assert.equal(
      (
        await postJson(`${stack.ingestUrl}/ingest/hrv`, {
          userId: "obs-warmup",
          date: today(),
          rmssd: 50,
          eventId: "obs-0",
        })
      ).status,
      202,
    );
    assert.equal(
      (await postJson(`${stack.ingestUrl}/ingest/hrv`, { userId: "obs-bad", date: "2025-13-45", rmssd: 0 })).status,
      400,
    );
    prom = await startRulesPrometheus({
      targets: { "ingest-service": hostOf(stack.ingestUrl), "normalize-service": hostOf(stack.normalizeUrl) },
      ruleFiles: [RULES],
      // As deploy/prometheus/prometheus.yml sets it: runbook links are absolute.
      externalLabels: { runbook_base_url: "https://git.example.test/athlete-ally/blob/v1" },
    });
    // Counters must be seen at 0 before they move, or rate() and increase() miss the first step.
    await data('sum(up{job=~"ingest-service|normalize-service"}) == 2');
    await data('dlq_messages_total{consumer="normalize-hrv-durable", reason="schema_invalid"} == 0');
    await data('normalize_hrv_messages_total{result="success", stream="AA_CORE_HOT"} == 1');
    await data('normalize_hrv_publish_to_stored_seconds_count{stream="AA_CORE_HOT"} == 1');
    await data('sum(http_requests_total{job="ingest-service", route="/ingest/hrv"}) == 2');

    for (let i = 1; i <= 5; i++) {
      const answer = await postJson(`${stack.ingestUrl}/ingest/hrv`, {
        userId: `obs-user-${i}`,
        date: today(),
        rmssd: 40 + i,
        eventId: `obs-${i}`,
      });
      assert.equal(answer.status, 202, JSON.stringify(answer.body));
    }
    const invalid = await postJson(`${stack.ingestUrl}/ingest/hrv`, {
      userId: "obs-bad",
      date: "2025-13-45",
      rmssd: 0,
    });
    assert.equal(invalid.status, 400);
    await stack.js.publish(HRV_SUBJECT, JSON.stringify({ eventId: "p1" }), { msgID: "obs-poison-p1" });

    await waitFor(
      async () => {
        const text = await scrape(stack.normalizeUrl);
        return (
          /normalize_hrv_messages_total\{result="success",[^}]*stream="AA_CORE_HOT"[^}]*\} 6\b/.test(text) &&
          /dlq_messages_total\{consumer="normalize-hrv-durable",reason="schema_invalid"\} 1\b/.test(text)
        );
      },
      { timeoutMs: 30_000, what: "5 readings stored and the poison message dead-lettered" },
    );
  });

  after(async () => {
    await prom?.stop();
    await stack?.close();
  });

  test("every metric the dashboard and the alert rules read is exported by the services", async () => {
    const exported = new Set([
      ...exposedNames(await scrape(stack.ingestUrl)),
      ...exposedNames(await scrape(stack.normalizeUrl)),
      ...SYNTHETIC_SERIES,
    ]);
    const queried = new Map<string, string>();
    for (const panel of await dashboardPanels())
      for (const t of panel.targets)
        for (const name of metricNames(t.expr)) queried.set(name, `panel "${panel.title}"`);
    for (const rule of await ruleExprs())
      for (const name of metricNames(rule.expr)) queried.set(name, `alert ${rule.alert}`);
    // The NATS servers' own series (job nats) come from prometheus-nats-exporter, not from the services.
    for (const name of queried.keys()) if (name.startsWith("gnatsd_")) queried.delete(name);
    assert.ok(
      queried.size >= 10,
      `expected the queries to read at least 10 metrics, got ${[...queried.keys()].join(", ")}`,
    );
    const missing = [...queried].filter(([name]) => !exported.has(name)).map(([name, where]) => `${name} (${where})`);
    assert.deepEqual(missing, [], "queried but not exported");
  });

  test("ingest exports HTTP metrics labelled by route pattern, not by raw URL", async () => {
    await fetch(`${stack.ingestUrl}/no/such/path/123`);
    const text = await scrape(stack.ingestUrl);
    assert.match(text, /http_requests_total\{route="\/ingest\/hrv",method="POST",status_code="202"\} 6\b/);
    assert.match(text, /http_requests_total\{route="\/ingest\/hrv",method="POST",status_code="400"\} 2\b/);
    assert.match(text, /http_requests_total\{route="\(unmatched\)",method="GET",status_code="404"\} 1\b/);
    assert.doesNotMatch(text, /no\/such\/path/);
    assert.match(text, /http_request_duration_seconds_count\{route="\/ingest\/hrv",method="POST"\} 8\b/);
  });

  test("every dashboard panel query returns data through Prometheus", async () => {
    const panels = await dashboardPanels();
    assert.equal(panels.length, 10, "the runbook's 8 panels, the NATS connection and the rejected requests");
    for (const panel of panels) {
      for (const target of panel.targets) {
        const samples = await data(expandDashboardVariables(target.expr, JOBS, "5m"));
        assert.ok(samples.length > 0, `${panel.title} ${target.refId}`);
      }
    }
  });

  test("the panels show the traffic that was driven", async () => {
    const [success] = await data('sum by (stream) (rate(normalize_hrv_messages_total{result="success"}[5m])) > 0');
    assert.equal(success?.metric.stream, "AA_CORE_HOT");
    const dlq = await data("sum by (consumer, reason) (rate(dlq_messages_total[5m])) * 60 > 0");
    assert.deepEqual(
      dlq.map((s) => s.metric),
      [{ consumer: "normalize-hrv-durable", reason: "schema_invalid" }],
    );
    // The 400 was sent last: a scrape between the 202s and it would show the 202s alone. Wait for
    // Prometheus to have scraped past the 400, then read every status code at once.
    await data('sum(increase(http_requests_total{route=~".*/ingest/.+", status_code="400"}[5m])) > 0');
    const http = await data('sum by (status_code) (increase(http_requests_total{route=~".*/ingest/.+"}[5m])) > 0');
    assert.deepEqual(http.map((s) => s.metric.status_code).sort(), ["202", "400"]);
    const [p99] = await data(
      "histogram_quantile(0.99, sum by (le) (rate(normalize_hrv_publish_to_stored_seconds_bucket[5m])))",
    );
    assert.ok(Number(p99?.value[1]) > 0 && Number(p99?.value[1]) < 30, `p99 ${p99?.value[1]}`);
    const bound = await data("event_bus_consumer_bound == 1");
    assert.ok(
      bound.some(
        (s) =>
          s.metric.stream === "AA_CORE_HOT" &&
          s.metric.role === "primary" &&
          s.metric.durable === "normalize-hrv-durable",
      ),
    );
    const up = await data('up{job=~"ingest-service|normalize-service"} == 1');
    assert.deepEqual(up.map((s) => s.metric.job).sort(), [...JOBS]);
  });

  test("the poison message makes EventBusDLQMessagesDetected fire, and nothing pages for a healthy idle stack", async () => {
    const alert = await waitFor(
      async () =>
        (await prom!.alerts()).find(
          (a) => a.labels.alertname === "EventBusDLQMessagesDetected" && a.state === "firing",
        ),
      {
        timeoutMs: 30_000,
        intervalMs: 500,
        what: "EventBusDLQMessagesDetected firing",
      },
    );
    assert.equal(alert.labels.consumer, "normalize-hrv-durable");
    assert.equal(alert.labels.reason, "schema_invalid");
    assert.equal(alert.labels.severity, "warning");
    assert.equal(
      alert.annotations.runbook_url,
      "https://git.example.test/athlete-ally/blob/v1/docs/phase-3/ops/monitoring-queries.md#eventbusdlqmessagesdetected",
    );
    // Nothing pending, both services up, multi mode on AA_CORE_HOT: none of these is even pending.
    const quiet = [
      "EventBusProcessingStopped",
      "EventBusServiceDown",
      "EventBusStreamFallbackDetected",
      "EventBusConsumerDrainOnlyTooLong",
      "IngestHttp5xxRatioHigh",
      "EventBusDLQSpike",
      "EventBusNatsDisconnected",
      "IngestNoReadyEndpoints",
    ];
    const noisy = (await prom!.alerts()).filter((a) => quiet.includes(a.labels.alertname ?? ""));
    assert.deepEqual(
      noisy.map((a) => `${a.labels.alertname} ${a.state}`),
      [],
    );
  });
});
