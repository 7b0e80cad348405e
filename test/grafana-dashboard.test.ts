import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { promisify } from "node:util";
import { ROOT } from "./helpers/ops-scripts.js";
import { expandDashboardVariables } from "./helpers/promql.js";

const DASHBOARD = join(ROOT, "deploy/grafana/event-bus-multi-stream-overview.json");
const DATASOURCE = { type: "prometheus", uid: "${datasource}" };

interface Target {
  datasource?: unknown;
  expr?: string;
  refId?: string;
}
interface Panel {
  id?: number;
  type?: string;
  title?: string;
  datasource?: unknown;
  gridPos?: { h: number; w: number; x: number; y: number };
  targets?: Target[];
}
interface Variable {
  name: string;
  type: string;
  query?: unknown;
  datasource?: unknown;
  multi?: boolean;
  includeAll?: boolean;
}
interface Dashboard {
  uid?: string;
  title?: string;
  schemaVersion?: number;
  panels?: Panel[];
  templating?: { list?: Variable[] };
  time?: unknown;
}

const load = async () => JSON.parse(await readFile(DASHBOARD, "utf8")) as Dashboard;

/** The cells a panel covers on Grafana's 24-column grid. */
function cells(p: Panel): string[] {
  const g = p.gridPos!;
  const out: string[] = [];
  for (let x = g.x; x < g.x + g.w; x++) for (let y = g.y; y < g.y + g.h; y++) out.push(`${x},${y}`);
  return out;
}

describe("Grafana dashboard: Event Bus - Multi-Stream Overview", () => {
  test("is a dashboard model Grafana imports: uid, title, schemaVersion, time range", async () => {
    const d = await load();
    assert.equal(d.title, "Event Bus - Multi-Stream Overview");
    assert.match(d.uid ?? "", /^[a-zA-Z0-9_-]{1,40}$/);
    assert.ok((d.schemaVersion ?? 0) >= 36 && (d.schemaVersion ?? 0) <= 41, `schemaVersion ${d.schemaVersion}`);
    assert.ok(d.time, "time range");
    assert.equal((d as { id?: unknown }).id ?? null, null, "no instance-specific id");
  });

  test("has the datasource and job variables", async () => {
    const vars = (await load()).templating?.list ?? [];
    const ds = vars.find((v) => v.name === "datasource");
    assert.equal(ds?.type, "datasource");
    assert.equal(ds?.query, "prometheus");
    const job = vars.find((v) => v.name === "job");
    assert.equal(job?.type, "query");
    assert.deepEqual(job?.datasource, DATASOURCE);
    assert.ok(job?.multi && job.includeAll);
    assert.match(JSON.stringify(job?.query), /label_values\(up[^)]*, job\)/);
    // One Prometheus may scrape staging and production: the namespace keeps them apart.
    const namespace = vars.find((v) => v.name === "namespace");
    assert.equal(namespace?.type, "query");
    assert.match(JSON.stringify(namespace?.query), /label_values\(up[^)]*, namespace\)/);
  });

  test("has the runbook's 8 panels, the NATS connection and the rejected requests, with unique ids, on the grid without overlap", async () => {
    const panels = (await load()).panels ?? [];
    const titles = panels.map((p) => p.title ?? "");
    const wanted = [
      /success rate by stream/i,
      /result distribution/i,
      /dlq rate/i,
      /publish success \/ error/i,
      /schema validation failures/i,
      /p50 \/ p95 \/ p99/i,
      /fallback detection/i,
      /service up/i,
      /nats connection/i,
      /rejected requests/i,
    ];
    assert.equal(panels.length, wanted.length, titles.join(", "));
    for (const pattern of wanted)
      assert.ok(
        titles.some((t) => pattern.test(t)),
        `no panel matching ${pattern}`,
      );
    assert.equal(new Set(panels.map((p) => p.id)).size, panels.length, "unique ids");
    assert.ok(panels.every((p) => Number.isInteger(p.id) && (p.id ?? 0) > 0));
    const seen = new Map<string, string>();
    for (const p of panels) {
      const g = p.gridPos;
      assert.ok(
        g &&
          [g.h, g.w, g.x, g.y].every(Number.isInteger) &&
          g.h > 0 &&
          g.w > 0 &&
          g.x >= 0 &&
          g.y >= 0 &&
          g.x + g.w <= 24,
        `${p.title}: gridPos ${JSON.stringify(g)}`,
      );
      assert.ok(
        ["timeseries", "stat", "table", "state-timeline", "piechart", "bargauge"].includes(p.type ?? ""),
        `${p.title}: type ${p.type}`,
      );
      for (const cell of cells(p)) {
        assert.ok(!seen.has(cell), `${p.title} overlaps ${seen.get(cell)} at ${cell}`);
        seen.set(cell, p.title ?? "");
      }
    }
  });

  test("every panel and target uses ${datasource}, has a refId and a non-empty expr filtered by $job", async () => {
    for (const p of (await load()).panels ?? []) {
      assert.deepEqual(p.datasource, DATASOURCE, `${p.title}: datasource`);
      assert.ok((p.targets ?? []).length > 0, `${p.title}: targets`);
      const refIds = (p.targets ?? []).map((t) => t.refId);
      assert.equal(new Set(refIds).size, refIds.length, `${p.title}: unique refIds`);
      for (const t of p.targets ?? []) {
        assert.deepEqual(t.datasource, DATASOURCE, `${p.title} ${t.refId}: datasource`);
        assert.match(t.refId ?? "", /^[A-Z]$/);
        assert.ok((t.expr ?? "").trim().length > 0, `${p.title} ${t.refId}: expr`);
        assert.match(
          t.expr ?? "",
          /job=~"\$job", namespace=~"\$namespace"/,
          `${p.title} ${t.refId}: filtered by $job and $namespace`,
        );
      }
    }
  });

  test("the producer-key watch of the runbook: rejected requests by reason, unauthenticated among them", async () => {
    const panel = ((await load()).panels ?? []).find((p) => /rejected requests/i.test(p.title ?? ""));
    assert.ok(panel, "a Rejected requests panel");
    assert.match(panel.title ?? "", /unauthenticated/);
    const expr = panel.targets?.[0]?.expr ?? "";
    assert.match(expr, /sum by \(reason\) \(rate\(ingest_requests_rejected_total\{/, "every reason, one line each");
    const runbook = await readFile(join(ROOT, "docs/phase-3/ops/PHASE_B_RUNBOOK.md"), "utf8");
    assert.ok(runbook.includes(`"${panel.title}"`), "the runbook names the panel it tells the operator to watch");
  });

  test("every query is valid PromQL (parsed by promtool)", async () => {
    const exprs = ((await load()).panels ?? []).flatMap((p) =>
      (p.targets ?? []).map((t) => expandDashboardVariables(t.expr ?? "", ["ingest-service", "normalize-service"])),
    );
    const rules = exprs
      .map((expr, i) => `      - record: dashboard:query_${i}\n        expr: ${JSON.stringify(expr)}`)
      .join("\n");
    const dir = await mkdtemp(join(tmpdir(), "aa-dash-"));
    try {
      const file = join(dir, "dashboard.rules.yml");
      await writeFile(file, `groups:\n  - name: dashboard\n    rules:\n${rules}\n`);
      const { stdout } = await promisify(execFile)("promtool", ["check", "rules", file]);
      assert.match(stdout, new RegExp(`SUCCESS: ${exprs.length} rules found`));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
