import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { aaOps, serviceFlags, showRun, type CliRun } from "./helpers/cli.js";
import { prometheusAvailable, startPrometheus, type PrivatePrometheus } from "./helpers/prometheus.js";
import { applyTopology, createStack, getJson, postJson, type Stack } from "./helpers/stack.js";
import { waitFor } from "./helpers/wait.js";

const HRV = "athlete-ally.hrv.raw-received";

interface CheckJson {
  section: string;
  name: string;
  status: "PASS" | "FAIL" | "UNKNOWN";
  detail: string;
  reasons: string[];
}

const statusOf = (checks: readonly CheckJson[], name: string | RegExp): string | undefined =>
  checks.find((c) => (typeof name === "string" ? c.name === name : name.test(c.name)))?.status;

/** A counter as the service's /metrics shows it now (summed over the series having these labels). */
async function counterValue(url: string, name: string, labels: readonly string[]): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const series = text.split("\n").filter((l) => l.startsWith(`${name}{`) && labels.every((label) => l.includes(label)));
  return series.reduce((sum, l) => sum + Number(l.split(" ").at(-1)), 0);
}

/** The check lines of a text report: `✅ PASS     name: detail`. */
const lines = (run: CliRun, mark: "PASS" | "FAIL" | "UNKNOWN"): string[] =>
  run.stdout.split("\n").filter((l) => new RegExp(`^\\S+ ${mark} +`).test(l));

describe("aa-ops status", () => {
  let stack: Stack;
  before(async () => {
    stack = await createStack({ mode: "multi" });
  });
  after(() => stack?.close());

  const status = (args: string[] = []) => aaOps(["status", "--nats-url", stack.nats.url, ...args]);

  test("multi mode: subject owners, durables with pending and waiting pulls, DLQ depth; --json says the same", async () => {
    for (let i = 0; i < 2; i++) await stack.js.publish(HRV, JSON.stringify({ i }));
    await stack.js.publish("dlq.normalize.hrv.raw-received.schema-invalid", "{}");
    const run = await status();
    assert.equal(run.code, 0, showRun(run));
    assert.match(run.stdout, /^Mode: multi$/m);
    assert.match(run.stdout, /^ {2}athlete-ally\.> +AA_CORE_HOT$/m);
    assert.match(run.stdout, /^ {2}sleep\.\* +AA_CORE_HOT$/m);
    assert.match(run.stdout, /^ {2}vendor\.> +AA_VENDOR_HOT$/m);
    assert.match(
      run.stdout,
      /^Stream +Durable +Filter Subject +Pending +Ack Pending +Redelivered +Waiting Pulls +Note$/m,
    );
    assert.match(run.stdout, /^AA_CORE_HOT +normalize-hrv-durable +athlete-ally\.hrv\.raw-received +2 +0 +0 +0$/m);
    assert.match(run.stdout, /^AA_VENDOR_HOT +normalize-oura +vendor\.oura\.webhook\.received +0 +0 +0 +0$/m);
    assert.match(run.stdout, /^DLQ: AA_DLQ holds 1 message\(s\)$/m);

    const json = JSON.parse((await status(["--json"])).stdout);
    assert.equal(json.mode.kind, "multi");
    assert.deepEqual(
      json.subjects.map((s: { pattern: string; owners: { stream: string }[] }) => [
        s.pattern,
        s.owners.map((o) => o.stream),
      ]),
      [
        ["athlete-ally.>", ["AA_CORE_HOT"]],
        ["vendor.>", ["AA_VENDOR_HOT"]],
        ["sleep.*", ["AA_CORE_HOT"]],
      ],
    );
    const hrv = json.durables.find((d: { durable: string }) => d.durable === "normalize-hrv-durable");
    assert.deepEqual([hrv.stream, hrv.pending, hrv.waiting, hrv.streamOwnsSubject], ["AA_CORE_HOT", 2, 0, true]);
    assert.deepEqual(json.dlq, { stream: "AA_DLQ", messages: 1 });
  });

  test("a subject taken from its stream: no stream owns it, the stream is parked; owned elsewhere: split", async () => {
    const vendor = await stack.jsm.streams.info("AA_VENDOR_HOT");
    await stack.jsm.streams.update("AA_VENDOR_HOT", { ...vendor.config, subjects: ["aa-ops.parked.AA_VENDOR_HOT"] });
    const unowned = await status();
    assert.equal(unowned.code, 0, showRun(unowned));
    assert.match(unowned.stdout, /^Mode: no stream owns vendor\.>$/m);
    assert.match(unowned.stdout, /^ {2}vendor\.> +no stream$/m);
    assert.match(
      unowned.stdout,
      /^AA_VENDOR_HOT +\(parked, awaiting subjects: aa-ops\.parked\.AA_VENDOR_HOT\) +0 +1$/m,
    );
    assert.match(
      unowned.stdout,
      /^AA_VENDOR_HOT +normalize-oura +vendor\.oura\.webhook\.received +0 +0 +0 +0 +stream does not own this subject: drain only$/m,
    );
    assert.equal(JSON.parse((await status(["--json"])).stdout).mode.kind, "unowned");

    await stack.jsm.streams.add({ name: "ATHLETE_ALLY_EVENTS", subjects: ["vendor.>"] });
    const split = await status();
    assert.match(
      split.stdout,
      /^Mode: mid-migration \(subjects split\): athlete-ally\.> on AA_CORE_HOT; vendor\.> on ATHLETE_ALLY_EVENTS; sleep\.\* on AA_CORE_HOT$/m,
    );
    assert.equal(JSON.parse((await status(["--json"])).stdout).mode.kind, "split");
  });
});

describe("aa-ops verify and soak-check on a running stack", () => {
  let stack: Stack;
  before(async () => {
    stack = await createStack({ mode: "multi" });
    await stack.startNormalize();
    await stack.startIngest();
  });
  after(() => stack?.close());

  const database = () => ["--database-url", stack.db.url, "--database-schema", stack.db.schema];
  const verify = (extra: string[] = []) => aaOps(["verify", ...serviceFlags(stack), ...database(), ...extra]);
  const soakCheck = (extra: string[]) => aaOps(["soak-check", ...serviceFlags(stack), ...extra]);

  test("status shows the running normalize as a waiting pull on its durables", async () => {
    const json = JSON.parse((await aaOps(["status", "--nats-url", stack.nats.url, "--json"])).stdout);
    const hrv = json.durables.find((d: { durable: string }) => d.durable === "normalize-hrv-durable");
    assert.ok(hrv.waiting >= 1, JSON.stringify(hrv));
  });

  test("verify passes on a healthy stack: every check PASS, the probe row is in hrv_data and kept", async () => {
    const run = await verify();
    assert.equal(run.code, 0, showRun(run));
    assert.deepEqual(lines(run, "FAIL"), []);
    assert.match(
      run.stdout,
      /^✅ PASS +stream AA_CORE_HOT: subjects athlete-ally\.>, sleep\.\*, max age 48h, replicas 1$/m,
    );
    assert.match(
      run.stdout,
      /^✅ PASS +consumer normalize-hrv-durable on AA_CORE_HOT: filter athlete-ally\.hrv\.raw-received, ack explicit, max deliver 5, ack wait 60s$/m,
    );
    assert.match(run.stdout, /^✅ PASS +consumer normalize-oura on AA_VENDOR_HOT: .*ack wait 15s$/m);
    assert.match(
      run.stdout,
      /^✅ PASS +ingest-service \/health: \{"status":"healthy","service":"ingest","eventBus":"connected"\}$/m,
    );
    assert.match(
      run.stdout,
      /^✅ PASS +normalize consumer bindings \(mode multi\): normalize-hrv-durable primary on AA_CORE_HOT/m,
    );
    assert.match(
      run.stdout,
      /^✅ PASS +row in hrv_data: after [0-9.]+ s: user_id aa-ops-verify-\S+, rmssd 55, ln_rmssd 4\.007333 = ln\(55\)$/m,
    );
    assert.match(
      run.stdout,
      /^✅ PASS +normalize normalize_hrv_messages_total: normalize_hrv_messages_total\{result="success",subject="athlete-ally\.hrv\.raw-received",stream="AA_CORE_HOT",durable="normalize-hrv-durable"\} [1-9]/m,
    );
    assert.match(
      run.stdout,
      /^✅ PASS +ingest event_bus_events_published_total: event_bus_events_published_total\{topic="hrv_raw_received",status="success"\} [1-9]/m,
    );
    assert.match(run.stdout, /^✅ PASS +AA_DLQ during the probe: no new message/m);
    assert.match(run.stdout, /is kept, as the runbook's own E2E test keeps its rows/);

    const json = JSON.parse((await verify(["--json"])).stdout);
    assert.equal(json.ok, true);
    assert.ok(json.checks.length >= 15, `${json.checks.length} checks`);
    assert.ok(json.checks.every((c: CheckJson) => c.status === "PASS"));
    const { rows } = await stack.db.pool.query(
      "SELECT rmssd, ln_rmssd FROM hrv_data WHERE user_id = $1 AND event_id = $2",
      [json.probe.userId, json.probe.eventId],
    );
    assert.equal(rows.length, 1, "the probe row is kept");
    assert.ok(Math.abs(rows[0].ln_rmssd - Math.log(55)) < 1e-9);
  });

  test("soak-check without Prometheus: window-based criteria UNKNOWN (exit 1), the rest judged from one scrape", async () => {
    const run = await soakCheck(["--since", "2s"]);
    assert.equal(run.code, 1, showRun(run));
    assert.match(
      run.stdout,
      /^❔ UNKNOWN +No fallback binding: now: normalize-hrv-durable primary on AA_CORE_HOT.*whether it fell back earlier in the window is not known$/m,
    );
    assert.match(run.stdout, /^❔ UNKNOWN +No missing rows: .*\n +- needs --prometheus-url/m);
    assert.match(
      run.stdout,
      /^✅ PASS +100% of successes on the target stream: 100% of [1-9]\d* on AA_CORE_HOT since it started at .*before the window/m,
    );
    assert.match(run.stdout, /^✅ PASS +DLQ not spiking \(< 10\/min\): 0 message\(s\) entered AA_DLQ in the last 2s/m);
    assert.match(run.stdout, /^✅ PASS +No restarts: ingest-service .* normalize-service .*: before the window/m);
    assert.match(run.stdout, /^Result: 3 PASS, 0 FAIL, 2 UNKNOWN$/m);
    assert.equal((await soakCheck(["--since", "2s", "--allow-unknown"])).code, 0);

    // A window longer than the services have run: they (re)started inside it.
    const long = JSON.parse((await soakCheck(["--since", "1h", "--json"])).stdout);
    assert.equal(long.ok, false);
    assert.equal(statusOf(long.checks, "No restarts"), "FAIL");
    assert.equal(statusOf(long.checks, "100% of successes on the target stream"), "UNKNOWN");
    const usage = await soakCheck([]);
    assert.equal(usage.code, 2, showRun(usage));
    assert.match(usage.stderr, /--since is required/);
  });

  test(
    "soak-check with Prometheus judges the window with range queries",
    { skip: prometheusAvailable() ? false : "prometheus is not on PATH" },
    async () => {
      const host = (url: string) => new URL(url).host;
      let prometheus: PrivatePrometheus | undefined;
      try {
        prometheus = await startPrometheus({
          "ingest-service": host(stack.ingestUrl),
          "normalize-service": host(stack.normalizeUrl),
        });
        const started = Date.now();
        const prom = prometheus;
        // increase() counts from a series' first sample: both counters must be scraped before the readings.
        const counters = [
          { url: stack.normalizeUrl, name: "normalize_hrv_messages_total", labels: ['result="success"'] },
          {
            url: stack.ingestUrl,
            name: "event_bus_events_published_total",
            labels: ['topic="hrv_raw_received"', 'status="success"'],
          },
        ];
        const caughtUp = async () => {
          for (const c of counters) {
            const seen = (await prom.query(`sum(${c.name}{${c.labels.join(",")}})`))[0]?.value;
            if (seen !== (await counterValue(c.url, c.name, c.labels))) return false;
          }
          return true;
        };
        await waitFor(caughtUp, { what: "first scrape of both counters", timeoutMs: 20_000 });
        for (let i = 0; i < 3; i++)
          assert.equal(
            (
              await postJson(`${stack.ingestUrl}/ingest/hrv`, {
                userId: `soak-${i}`,
                date: "2025-10-02",
                rmssd: 40 + i,
              })
            ).status,
            202,
          );
        await waitFor(
          async () => (await stack.db.pool.query("SELECT 1 FROM hrv_data WHERE user_id LIKE 'soak-%'")).rowCount === 3,
          { what: "3 rows" },
        );
        await waitFor(caughtUp, { what: "Prometheus saw the new readings", timeoutMs: 20_000 });
        const samplesSince = async () =>
          (
            await prom.query(
              `min(count_over_time(event_bus_events_published_total[${Math.ceil((Date.now() - started) / 1000)}s]))`,
            )
          )[0]?.value ?? 0;
        await waitFor(async () => (await samplesSince()) >= 6, {
          what: "a few samples in the window",
          timeoutMs: 20_000,
        });

        const since = `${Math.ceil((Date.now() - started) / 1000) + 1}s`;
        const run = await aaOps([
          "soak-check",
          "--nats-url",
          stack.nats.url,
          "--prometheus-url",
          prometheus.url,
          ...database(),
          "--since",
          since,
        ]);
        assert.equal(run.code, 0, showRun(run));
        assert.match(
          run.stdout,
          /^✅ PASS +No fallback binding: only primary bindings on the mode's streams in the window: normalize-hrv-durable primary on AA_CORE_HOT/m,
        );
        assert.match(
          run.stdout,
          /^✅ PASS +100% of successes on the target stream: 100% of [1-9]\d* on AA_CORE_HOT in the window$/m,
        );
        assert.match(
          run.stdout,
          /^✅ PASS +No missing rows: [1-9]\d* readings accepted .*, [1-9]\d* hrv_data rows written in the window$/m,
        );
        const restarts = run.stdout.split("\n").find((l) => l.includes("No restarts:")) ?? "";
        assert.match(restarts, /^✅ PASS +No restarts: .*before the window$/);
        for (const job of ["ingest-service", "normalize-service"])
          assert.ok(restarts.includes(`${job} 127.0.0.1:`), restarts);
        // This Prometheus has no external labels: the alerts' links would be bare paths (a warning, exit 0).
        assert.match(run.stdout, /^⚠️ {2}Monitoring: Prometheus has no runbook_base_url external label/m);

        // Its targets carry no namespace label: scoped to one, soak-check sees none of their series
        // (in a Prometheus shared by staging and production, never the other environment's).
        const scoped = await aaOps([
          "soak-check",
          "--nats-url",
          stack.nats.url,
          "--prometheus-url",
          prometheus.url,
          ...database(),
          "--since",
          since,
          "--namespace",
          "production",
          "--json",
        ]);
        assert.equal(scoped.code, 1, showRun(scoped));
        const scopedReport = JSON.parse(scoped.stdout);
        assert.equal(scopedReport.prometheus.namespace, "production");
        assert.equal(statusOf(scopedReport.checks, "No fallback binding"), "UNKNOWN");
        assert.equal(statusOf(scopedReport.checks, "No restarts"), "UNKNOWN");

        const long = await aaOps([
          "soak-check",
          "--nats-url",
          stack.nats.url,
          "--prometheus-url",
          prometheus.url,
          ...database(),
          "--since",
          "1h",
          "--json",
        ]);
        assert.equal(long.code, 1, showRun(long));
        assert.equal(statusOf(JSON.parse(long.stdout).checks, "No restarts"), "FAIL");
        const absent = await aaOps([
          "soak-check",
          "--nats-url",
          stack.nats.url,
          "--prometheus-url",
          prometheus.url,
          ...database(),
          "--since",
          since,
          "--selector",
          'job="nope"',
          "--json",
        ]);
        assert.equal(absent.code, 1, showRun(absent));
        assert.equal(statusOf(JSON.parse(absent.stdout).checks, "No restarts"), "UNKNOWN");
      } finally {
        await prometheus?.stop();
      }
    },
  );

  test("verify fails when the probe is dead-lettered: the DLQ baseline check names the new message", async () => {
    // The database now rejects rmssd 55 as bad data (SQLSTATE 23514): normalize dead-letters the probe at once.
    await stack.db.pool.query("ALTER TABLE hrv_data ADD CONSTRAINT aa_ops_reject_probe CHECK (rmssd < 50) NOT VALID");
    try {
      const run = await verify(["--probe-timeout", "3"]);
      assert.equal(run.code, 1, showRun(run));
      assert.match(run.stdout, /^❌ FAIL +row in hrv_data: no row within 3 s$/m);
      assert.match(
        run.stdout,
        /^❌ FAIL +AA_DLQ during the probe: 1 new message\(s\): 0 → 1\n(.*\n)? +investigate: aa-ops stream get AA_DLQ 1$/m,
      );
      assert.match(run.stdout, /^✅ PASS +POST \/ingest\/hrv: /m);
    } finally {
      await stack.db.pool.query("ALTER TABLE hrv_data DROP CONSTRAINT aa_ops_reject_probe");
    }
  });

  test("verify fails, with reasons, when the durable on the mode's stream is missing", async () => {
    await stack.jsm.consumers.delete("AA_CORE_HOT", "normalize-hrv-durable");
    await waitFor(async () => (await getJson(`${stack.normalizeUrl}/health`)).body.status !== "healthy", {
      what: "normalize notices the lost durable",
    });
    const run = await verify(["--probe-timeout", "3"]);
    assert.equal(run.code, 1, showRun(run));
    assert.match(
      run.stdout,
      /^❌ FAIL +consumer normalize-hrv-durable on AA_CORE_HOT: missing on AA_CORE_HOT\n +investigate: aa-ops topology apply --mode multi --dry-run$/m,
    );
    assert.match(
      run.stdout,
      /^❌ FAIL +normalize-service \/health: status degraded \(HTTP 503\), database connected, nats connected$/m,
    );
    assert.match(
      run.stdout,
      /^❌ FAIL +normalize consumer bindings \(mode multi\): .*\n +- normalize-hrv-durable on AA_CORE_HOT: /m,
    );
    assert.match(run.stdout, /^❌ FAIL +row in hrv_data: no row within 3 s$/m);
    assert.match(run.stdout, /^✅ PASS +stream AA_CORE_HOT: /m);
    assert.match(run.stdout, /^✅ PASS +POST \/ingest\/hrv: 202 received/m);

    await applyTopology(stack.jsm, "multi");
    await waitFor(async () => (await getJson(`${stack.normalizeUrl}/health`)).status === 200, {
      what: "normalize bound again",
      timeoutMs: 30_000,
    });
  });

  test("verify fails, with reasons, when normalize is stopped", async () => {
    await stack.normalize?.stop();
    const run = await verify(["--probe-timeout", "2", "--json"]);
    assert.equal(run.code, 1, showRun(run));
    const { checks } = JSON.parse(run.stdout) as { checks: CheckJson[] };
    const health = checks.find((c) => c.name === "normalize-service /health");
    assert.equal(health?.status, "FAIL");
    assert.match(health?.detail ?? "", /^did not answer: fetch failed \(ECONNREFUSED\)$/);
    assert.equal(statusOf(checks, /^normalize consumer bindings/), "FAIL");
    assert.equal(statusOf(checks, "row in hrv_data"), "FAIL");
    assert.equal(statusOf(checks, "normalize normalize_hrv_messages_total"), "FAIL");
    assert.equal(statusOf(checks, "ingest-service /health"), "PASS");
    assert.equal(statusOf(checks, "consumer normalize-hrv-durable on AA_CORE_HOT"), "PASS");

    const soak = JSON.parse((await soakCheck(["--since", "2s", "--json"])).stdout) as { checks: CheckJson[] };
    assert.equal(statusOf(soak.checks, "No fallback binding"), "UNKNOWN");
    assert.match(soak.checks.find((c) => c.name === "No fallback binding")?.detail ?? "", /did not answer/);
  });
});
