import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { parse } from "yaml";
import { ROOT } from "./helpers/ops-scripts.js";

const RULES = join(ROOT, "deploy/prometheus/rules/event-bus.rules.yml");
const CONFIG = join(ROOT, "deploy/prometheus/prometheus.yml");
const TESTS_DIR = join(ROOT, "deploy/prometheus/tests");
const DOC = join(ROOT, "docs/phase-3/ops/monitoring-queries.md");

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleTest {
  alert_rule_test?: { eval_time: string; alertname: string; exp_alerts?: unknown[] }[];
}

/** Runs promtool; resolves with its exit code and combined output (never rejects on a non-zero exit). */
function promtool(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    execFile("promtool", args, { cwd: ROOT, timeout: 60_000 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== "number")
        return reject(
          new Error(`promtool ${args.join(" ")}: ${error.message} (install it: apt-get install prometheus)`),
        );
      resolve({ code: typeof error?.code === "number" ? error.code : 0, out: `${stdout}${stderr}` });
    });
  });
}

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to dashes. */
const slug = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, "")
    .replace(/ /g, "-");

describe("Prometheus alert rules", () => {
  let rules: Rule[];
  let testFiles: string[];
  before(async () => {
    rules = (parse(await readFile(RULES, "utf8")) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);
    testFiles = (await readdir(TESTS_DIR))
      .filter((f) => f.endsWith(".test.yml"))
      .sort()
      .map((f) => join(TESTS_DIR, f));
  });

  test("promtool check rules accepts the rules file", async () => {
    const { code, out } = await promtool(["check", "rules", RULES]);
    assert.equal(code, 0, out);
    assert.match(out, new RegExp(`SUCCESS: ${rules.length} rules found`));
  });

  test("promtool check config accepts prometheus.yml and the rule files it loads", async () => {
    const { code, out } = await promtool(["check", "config", CONFIG]);
    assert.equal(code, 0, out);
    assert.match(out, /SUCCESS: 1 rule files found/);
    assert.match(out, /SUCCESS: deploy\/prometheus\/prometheus\.yml is valid|SUCCESS: .*prometheus\.yml is valid/);
  });

  test("promtool test rules: every unit test passes", async () => {
    assert.ok(testFiles.length >= 1);
    const { code, out } = await promtool(["test", "rules", ...testFiles]);
    assert.equal(code, 0, out);
    assert.doesNotMatch(out, /FAILED/);
    assert.equal(out.match(/SUCCESS/g)?.length, testFiles.length, out);
  });

  describe("a rule test that expects the wrong thing", () => {
    let dir: string;
    before(async () => (dir = await mkdtemp(join(tmpdir(), "aa-promtool-"))));
    after(async () => rm(dir, { recursive: true, force: true }));

    test("makes promtool exit non-zero (so the suite above can fail)", async () => {
      const wrong = {
        rule_files: [RULES],
        evaluation_interval: "1m",
        tests: [
          {
            interval: "1m",
            input_series: [
              { series: 'up{job="ingest-service",instance="a:4101"}', values: "1x10" },
              { series: 'up{job="normalize-service",instance="b:4102"}', values: "1x10" },
            ],
            alert_rule_test: [
              {
                eval_time: "5m",
                alertname: "EventBusServiceDown",
                exp_alerts: [
                  {
                    exp_labels: {
                      severity: "critical",
                      category: "availability",
                      job: "ingest-service",
                      instance: "a:4101",
                    },
                  },
                ],
              },
            ],
          },
        ],
      };
      const file = join(dir, "wrong.test.yml");
      await writeFile(file, JSON.stringify(wrong));
      const { code, out } = await promtool(["test", "rules", file]);
      assert.notEqual(code, 0, out);
      assert.match(out, /FAILED/);
    });
  });

  test("every alert has a summary, a description, severity and category labels, and a runbook link into monitoring-queries.md", async () => {
    const doc = await readFile(DOC, "utf8");
    const anchors = new Set([...doc.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1] ?? "")));
    assert.ok(rules.length >= 10);
    for (const rule of rules) {
      assert.ok(rule.alert, `not an alerting rule: ${rule.expr}`);
      assert.ok(rule.annotations?.summary && rule.annotations.description, `${rule.alert}: summary and description`);
      assert.ok(
        ["critical", "warning"].includes(rule.labels?.severity ?? ""),
        `${rule.alert}: severity ${rule.labels?.severity}`,
      );
      assert.match(rule.labels?.category ?? "", /^[a-z-]+$/, `${rule.alert}: category`);
      const [path, anchor] = (rule.annotations.runbook_url ?? "").split("#");
      // Absolute: prometheus.yml's runbook_base_url (a repository-relative link opens nowhere from a page).
      assert.equal(path, "{{ $externalLabels.runbook_base_url }}/docs/phase-3/ops/monitoring-queries.md", rule.alert);
      assert.equal(anchor, rule.alert.toLowerCase(), `${rule.alert}: anchor`);
      assert.ok(anchors.has(anchor ?? ""), `${rule.alert}: no heading for #${anchor} in monitoring-queries.md`);
    }
  });

  test("prometheus.yml: an absolute runbook_base_url, and each environment's jobs labelled apart", async () => {
    const config = parse(await readFile(CONFIG, "utf8")) as {
      global: { external_labels: Record<string, string> };
      scrape_configs: { job_name: string; relabel_configs: { target_label: string; replacement: string }[] }[];
    };
    assert.match(
      config.global.external_labels.runbook_base_url ?? "",
      /^https:\/\/[^ ]+[^/]$/,
      "absolute, without a trailing slash",
    );
    assert.equal(
      config.global.external_labels.environment,
      undefined,
      "environment is a target label: one Prometheus may scrape both",
    );
    const labelled = config.scrape_configs.map((c) =>
      Object.fromEntries(c.relabel_configs.map((r) => [r.target_label, r.replacement])),
    );
    for (const environment of ["staging", "production"]) {
      // nats: the NATS servers through prometheus-nats-exporter (the NATS alerts read it).
      for (const job of ["ingest-service", "normalize-service", "nats"]) {
        assert.ok(
          labelled.some((l) => l.job === job && l.environment === environment && l.namespace === environment),
          `${job} in ${environment}`,
        );
      }
    }
  });

  test("every aggregation keeps environment and namespace apart", () => {
    for (const rule of rules) {
      for (const [, labels] of rule.expr.matchAll(/\b(?:by|on) \(([^)]*)\)/g)) {
        const list = (labels ?? "").split(",").map((l) => l.trim());
        if (list.includes("instance") && !list.includes("environment")) continue; // an instance is one pod of one environment
        assert.ok(list.includes("environment") && list.includes("namespace"), `${rule.alert}: by/on (${labels})`);
      }
    }
  });

  test("a full NATS outage pages: the connection gauge and ingest without ready endpoints", () => {
    const expr = (name: string) =>
      rules
        .filter((r) => r.alert === name)
        .map((r) => r.expr)
        .join("\n");
    assert.match(expr("EventBusNatsDisconnected"), /event_bus_nats_connected == 0/);
    assert.match(expr("IngestNoReadyEndpoints"), /event_bus_nats_connected\{job="ingest-service"\} == 1/);
  });

  test("silent failures page: producers without a key, Oura's 5xx, the NATS servers themselves", () => {
    const expr = (name: string) =>
      rules
        .filter((r) => r.alert === name)
        .map((r) => r.expr)
        .join("\n");
    assert.match(
      expr("IngestUnauthenticatedRequests"),
      /increase\(ingest_requests_rejected_total\{job="ingest-service", reason="unauthenticated"\}\[10m\]\)\) > 0/,
    );
    // Every route that takes data counts: /ingest/* and /webhooks/oura, in numerator and denominator.
    const routes = [...expr("IngestHttp5xxRatioHigh").matchAll(/route=~"([^"]+)"/g)].map(
      (m) => new RegExp(`^(?:${m[1]})$`),
    );
    assert.equal(routes.length, 2);
    for (const route of routes) {
      for (const path of ["/ingest/hrv", "/api/v1/ingest/sleep", "/webhooks/oura"]) assert.match(path, route);
      for (const path of ["/health", "/metrics", "/oura/link"]) assert.doesNotMatch(path, route);
    }
    assert.match(expr("NatsServerDown"), /up\{job="nats"\} == 0/);
    assert.match(expr("NatsServerDown"), /absent\(up\{job="nats"\}\)/);
    assert.match(expr("NatsJetStreamStorageNearlyFull"), /gnatsd_varz_jetstream_stats_storage/);
  });

  test("the runbook's alerts exist, corrected", () => {
    const expr = (name: string) =>
      rules
        .filter((r) => r.alert === name)
        .map((r) => r.expr)
        .join("\n");
    assert.match(expr("EventBusDLQMessagesDetected"), /dlq_messages_total\[/);
    assert.doesNotMatch(expr("EventBusDLQMessagesDetected"), /reason=|result=/, "every route into the DLQ counts");
    assert.match(
      expr("EventBusStreamFallbackDetected"),
      /event_bus_consumer_bound\{role="primary", stream="ATHLETE_ALLY_EVENTS"\}/,
    );
    assert.match(expr("EventBusConsumerDrainOnlyTooLong"), /role="drain_only"/);
    assert.equal(rules.find((r) => r.alert === "EventBusConsumerDrainOnlyTooLong")?.for, "10m");
    assert.match(expr("EventBusSchemaValidationFailuresHigh"), /result="schema_invalid"/);
    assert.match(expr("EventBusProcessingStopped"), /event_bus_consumer_pending_messages/);
    assert.match(expr("EventBusProcessingStopped"), /absent\(/);
    assert.match(expr("EventBusProcessingLatencyHigh"), /normalize_hrv_publish_to_stored_seconds_bucket/);
    assert.match(expr("IngestHttp5xxRatioHigh"), /http_requests_total\{[^}]*status_code=~"5\.\."/);
    assert.match(expr("EventBusConsumerPendingGrowing"), /event_bus_consumer_pending_messages/);
    assert.match(expr("EventBusServiceDown"), /\bup\{/);
  });

  test("each alert has a firing and a not-firing unit test case", async () => {
    const cases = new Map<string, { firing: number; silent: number }>();
    for (const file of testFiles) {
      const spec = parse(await readFile(file, "utf8")) as { tests: RuleTest[] };
      for (const c of spec.tests.flatMap((t) => t.alert_rule_test ?? [])) {
        const count = cases.get(c.alertname) ?? { firing: 0, silent: 0 };
        if ((c.exp_alerts ?? []).length > 0) count.firing++;
        else count.silent++;
        cases.set(c.alertname, count);
      }
    }
    for (const name of new Set(rules.map((r) => r.alert))) {
      const count = cases.get(name);
      assert.ok(count && count.firing > 0 && count.silent > 0, `${name}: ${JSON.stringify(count)}`);
    }
  });
});
