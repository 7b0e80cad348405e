import assert from "node:assert/strict";
import { test } from "node:test";
import {
  acceptedAtLeast,
  judgeBindings,
  judgeDlq,
  judgeRestarts,
  judgeRows,
  judgeSuccesses,
  type RowCounts,
  type SoakWindow,
} from "../../tools/ops/src/soak/criteria.js";
import type { Sample } from "../../tools/ops/src/prometheus.js";
import { soakQueries } from "../../tools/ops/src/soak/queries.js";
import { runbookLinkWarning } from "../../tools/ops/src/soak/runbook-links.js";
import { namespaceOf } from "../../tools/ops/src/commands/soak-check.js";

const END = new Date("2026-01-03T00:00:00Z");
const window: SoakWindow = {
  text: "48h",
  seconds: 48 * 3600,
  start: new Date(END.getTime() - 48 * 3600_000),
  end: END,
};
const startSeconds = window.start.getTime() / 1000;
const sample = (labels: Record<string, string>, value: number): Sample => ({ name: "x", labels, value });
const expected = (durable: string) => (durable === "normalize-oura" ? "AA_VENDOR_HOT" : "AA_CORE_HOT");

test("judgeBindings: only primary bindings on the mode's streams in the window pass", () => {
  const bound = [sample({ durable: "normalize-hrv-durable", stream: "AA_CORE_HOT", role: "primary" }, 1)];
  assert.equal(judgeBindings(bound, expected, "prometheus").status, "PASS");
});

test("judgeBindings: a drain-only or off-mode binding fails and says where it was", () => {
  const bound = [sample({ durable: "normalize-hrv-durable", stream: "ATHLETE_ALLY_EVENTS", role: "drain_only" }, 1)];
  const check = judgeBindings(bound, expected, "prometheus");
  assert.equal(check.status, "FAIL");
  assert.match(
    check.reasons.join("\n"),
    /normalize-hrv-durable drain_only on ATHLETE_ALLY_EVENTS; expected primary on AA_CORE_HOT/,
  );
});

test("judgeBindings: no series (or only a scrape) is UNKNOWN, never a pass", () => {
  assert.equal(judgeBindings([], expected, "prometheus").status, "UNKNOWN");
  assert.equal(judgeBindings(new Error("down"), expected, "prometheus").status, "UNKNOWN");
  const now = [sample({ durable: "normalize-hrv-durable", stream: "AA_CORE_HOT", role: "primary" }, 1)];
  assert.equal(judgeBindings(now, expected, "scrape").status, "UNKNOWN");
});

test("judgeSuccesses: every success on the target stream passes; a split fails with the share", () => {
  assert.equal(
    judgeSuccesses([sample({ stream: "AA_CORE_HOT" }, 10)], "AA_CORE_HOT", window, undefined).status,
    "PASS",
  );
  const split = judgeSuccesses(
    [sample({ stream: "AA_CORE_HOT" }, 3), sample({ stream: "ATHLETE_ALLY_EVENTS" }, 1)],
    "AA_CORE_HOT",
    window,
    undefined,
  );
  assert.equal(split.status, "FAIL");
  assert.match(split.detail, /^75\.0% on AA_CORE_HOT/);
  assert.equal(judgeSuccesses([], "AA_CORE_HOT", window, undefined).status, "UNKNOWN");
});

test("judgeSuccesses from a scrape: passes only when the process started before the window", () => {
  const all = [sample({ stream: "AA_CORE_HOT" }, 5)];
  assert.equal(judgeSuccesses(all, "AA_CORE_HOT", window, { startedAt: startSeconds - 60 }).status, "PASS");
  assert.equal(judgeSuccesses(all, "AA_CORE_HOT", window, { startedAt: startSeconds + 60 }).status, "UNKNOWN");
});

test("judgeDlq: fewer than 10 messages in the window pass; a high average fails", () => {
  assert.equal(judgeDlq("AA_DLQ", 9, undefined, window).status, "PASS");
  const short: SoakWindow = { ...window, text: "1m", seconds: 60 };
  assert.equal(judgeDlq("AA_DLQ", 30, undefined, short).status, "FAIL");
});

test("judgeDlq: 10+ messages over a long window need the peak minute: unknown, pass or fail by it", () => {
  assert.equal(judgeDlq("AA_DLQ", 40, undefined, window).status, "UNKNOWN");
  assert.equal(judgeDlq("AA_DLQ", 40, null, window).status, "UNKNOWN");
  assert.equal(judgeDlq("AA_DLQ", 40, 2, window).status, "PASS");
  assert.equal(judgeDlq("AA_DLQ", 40, 12, window).status, "FAIL");
});

test("acceptedAtLeast: the lower bound allows increase()'s extrapolation (2.2/(k-1))", () => {
  assert.equal(acceptedAtLeast(100, 2), 31);
  assert.equal(acceptedAtLeast(100, 23), 90);
  assert.equal(acceptedAtLeast(0, 10), 0);
});

const rows = (accepted: number, written: number): RowCounts => ({
  accepted: [sample({}, accepted)],
  duplicates: [],
  samples: 23,
  rows: written,
  tolerancePercent: 1,
});

test("judgeRows: rows within the tolerance of the accepted lower bound pass; more missing fail", () => {
  assert.equal(judgeRows(rows(1000, 900)).status, "PASS");
  const check = judgeRows(rows(1000, 500));
  assert.equal(check.status, "FAIL");
  assert.match(check.reasons[0] ?? "", /^409 missing, more than the tolerance of 10/);
  assert.equal(judgeRows(undefined).status, "UNKNOWN");
  assert.equal(judgeRows(rows(0, 0)).status, "UNKNOWN");
});

test("judgeRestarts: a start before the window passes; one inside it, or a down target, fails", () => {
  const before = [{ who: "normalize", startedAt: startSeconds - 10 }];
  assert.equal(judgeRestarts(before, [], window, "prometheus").status, "PASS");
  assert.equal(
    judgeRestarts([{ who: "normalize", startedAt: startSeconds + 10 }], [], window, "prometheus").status,
    "FAIL",
  );
  assert.equal(judgeRestarts(before, ["ingest 10.0.0.1:4101"], window, "prometheus").status, "FAIL");
  assert.equal(judgeRestarts([], [], window, "prometheus").status, "UNKNOWN");
});

const scope = {
  seconds: 172800,
  namespace: "production",
  selector: 'job=~"ingest-service|normalize-service"',
  hrvTopic: "hrv_raw_received",
  hrvDurable: "normalize-hrv-durable",
};

test("soakQueries: every query is scoped to the namespace (one Prometheus scrapes staging and production)", () => {
  const q = soakQueries(scope);
  const all = [q.bound, q.successes, q.dlqPeakPerMinute, q.starts, q.down, q.acceptedSamples, q.published("success")];
  for (const query of all) assert.match(query, /namespace="production"/, query);
  assert.equal(q.bound, 'max_over_time(event_bus_consumer_bound{namespace="production"}[172800s])');
  assert.equal(
    q.successes,
    'sum by (stream) (increase(normalize_hrv_messages_total{result="success",durable="normalize-hrv-durable",namespace="production"}[172800s]))',
  );
  assert.equal(
    q.dlqPeakPerMinute,
    'max_over_time((sum(rate(dlq_messages_total{namespace="production"}[1m])) * 60)[172800s:1m])',
  );
  assert.equal(
    q.starts,
    'max_over_time(process_start_time_seconds{job=~"ingest-service|normalize-service",namespace="production"}[172800s])',
  );
  assert.equal(
    q.down,
    'min_over_time(up{job=~"ingest-service|normalize-service",namespace="production"}[172800s]) == 0',
  );
  assert.equal(
    q.published("duplicate"),
    'sum(increase(event_bus_events_published_total{topic="hrv_raw_received",status="duplicate",namespace="production"}[172800s]))',
  );
  assert.equal(
    q.acceptedSamples,
    'min(count_over_time(event_bus_events_published_total{topic="hrv_raw_received",status="success",namespace="production"}[172800s]))',
  );
});

test("soakQueries without a namespace: the queries as before, every namespace (a Prometheus of one environment)", () => {
  const q = soakQueries({ ...scope, namespace: undefined });
  assert.equal(q.bound, "max_over_time(event_bus_consumer_bound{}[172800s])");
  assert.equal(q.dlqPeakPerMinute, "max_over_time((sum(rate(dlq_messages_total{}[1m])) * 60)[172800s:1m])");
  assert.doesNotMatch([q.successes, q.starts, q.down].join("\n"), /namespace/);
});

test("namespaceOf: --namespace, else POD_NAMESPACE (the aa-ops pod's), else none; a bad name is a usage error", () => {
  const input = (options: Record<string, string>, env: Record<string, string>) => ({ options, env });
  assert.equal(namespaceOf(input({ namespace: "staging" }, { POD_NAMESPACE: "production" })), "staging");
  assert.equal(namespaceOf(input({}, { POD_NAMESPACE: "production" })), "production");
  assert.equal(namespaceOf(input({}, {})), undefined);
  assert.throws(
    () => namespaceOf(input({ namespace: 'prod"}) or vector(1' }, {})),
    /--namespace must be a Kubernetes namespace name/,
  );
  assert.throws(() => namespaceOf(input({}, { POD_NAMESPACE: "Prod" })), /POD_NAMESPACE must be/);
});

test("runbookLinkWarning: an absolute runbook_base_url is quiet; missing, relative or slash-ended is named", () => {
  const config = (label: string) => `global:\n  external_labels:\n    ${label}\nrule_files: []\n`;
  assert.equal(runbookLinkWarning(config("runbook_base_url: https://git.example.test/aa/blob/v1")), undefined);
  assert.equal(runbookLinkWarning(config('runbook_base_url: "https://git.example.test/aa/blob/v1"')), undefined);
  assert.match(runbookLinkWarning(config("region: eu")) ?? "", /no runbook_base_url external label/);
  assert.match(runbookLinkWarning(config("runbook_base_url: /docs")) ?? "", /not an absolute http\(s\) URL/);
  assert.match(runbookLinkWarning(config("runbook_base_url: https://git.example.test/")) ?? "", /ends with "\/"/);
});
