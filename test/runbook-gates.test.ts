import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { parseAllDocuments } from "yaml";
import { ROOT } from "./helpers/ops-scripts.js";

const RUNBOOK = join(ROOT, "docs/phase-3/ops/PHASE_B_RUNBOOK.md");
const JOBS = ["normalize-migrate", "event-bus-topology"];

/** The shell function `name() { … }` as the runbook defines it (up to the `}` alone on a line). */
function shellFunction(text: string, name: string): string {
  const match = new RegExp(`^${name}\\(\\) \\{[\\s\\S]*?^\\}$`, "m").exec(text);
  assert.ok(match, `the runbook defines ${name}()`);
  return match[0];
}

/** The runbook's fenced bash blocks, in order. */
const bashBlocks = (text: string): string[] => [...text.matchAll(/^```bash\n([\s\S]*?)^```/gm)].map((m) => m[1]!);

describe("the runbook's Job gates return when the Job fails", () => {
  let runbook: string;
  let dir: string;
  before(async () => {
    runbook = await readFile(RUNBOOK, "utf8");
    dir = await mkdtemp(join(tmpdir(), "aa-job-wait-"));
    // A kubectl that answers `get job` with the conditions in $JOB_CONDITIONS and logs a line.
    await writeFile(
      join(dir, "kubectl"),
      '#!/bin/sh\ncase "$1" in get) printf "%s" "$JOB_CONDITIONS" ;; logs) echo "migration 007 failed: boom" ;; esac\n',
    );
    await chmod(join(dir, "kubectl"), 0o755);
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  /** Runs the runbook's job_wait with the fake kubectl; exit code, output and how long it took. */
  async function jobWait(conditions: string, timeoutSeconds: number) {
    const script = `${shellFunction(runbook, "job_wait")}\njob_wait normalize-migrate ${timeoutSeconds}`;
    const started = Date.now();
    const env = { ...process.env, PATH: `${dir}:${process.env.PATH}`, NS: "staging", JOB_CONDITIONS: conditions };
    try {
      const { stdout } = await promisify(execFile)("bash", ["-c", script], { env, timeout: 30_000 });
      return { code: 0, out: stdout, ms: Date.now() - started };
    } catch (error) {
      const e = error as { code?: number; stdout?: string };
      return { code: e.code ?? -1, out: e.stdout ?? "", ms: Date.now() - started };
    }
  }

  test("a failed Job ends the wait at once, non-zero, with its log", async () => {
    const run = await jobWait("FailureTarget Failed ", 600);
    assert.equal(run.code, 1, run.out);
    assert.match(run.out, /job\/normalize-migrate FAILED\nmigration 007 failed: boom/);
    assert.ok(run.ms < 5_000, `returned after ${run.ms} ms, not the 600 s timeout`);
  });

  test("a complete Job passes; an unfinished one fails at the timeout", async () => {
    const done = await jobWait("SuccessCriteriaMet Complete ", 600);
    assert.deepEqual([done.code, done.out.trim()], [0, "job/normalize-migrate complete"]);
    const running = await jobWait("", 0);
    assert.deepEqual([running.code, running.out.trim()], [1, "job/normalize-migrate not finished after 0 s"]);
  });

  test("every Job the runbook applies is waited for with job_wait, never kubectl wait alone", () => {
    const code = bashBlocks(runbook).join("\n");
    assert.doesNotMatch(code, /kubectl wait [^\n]*job\//, "kubectl wait on a Job waits out its timeout on failure");
    for (const job of JOBS) {
      const applied = code.indexOf(`-l app=${job}`);
      assert.ok(applied > 0, `the runbook applies ${job}`);
      const waited = code.indexOf(`\njob_wait ${job} `, applied);
      assert.ok(waited > applied, `job_wait ${job} after its apply`);
      const seconds = Number(/^job_wait \S+ (\d+)/.exec(code.slice(waited + 1))?.[1]);
      assert.ok(seconds > 0, `job_wait ${job}: a timeout in seconds`);
    }
  });
});

describe("the runbook's monitoring gates", () => {
  let runbook: string;
  before(async () => (runbook = await readFile(RUNBOOK, "utf8")));

  test('soak-check is scoped to the environment: --namespace "$NS"', () => {
    const lines = runbook.split("\n").filter((l) => /aa-ops soak-check .*--prometheus-url/.test(l));
    assert.ok(lines.length > 0, "the runbook runs soak-check with Prometheus");
    for (const line of lines) assert.match(line, /--namespace "\$NS"/, line);
  });

  test("the prerequisites check runbook_base_url, the loaded rules and the NATS scrape job", () => {
    const section = runbook.slice(runbook.indexOf("### Monitoring ready"), runbook.indexOf("## Pre-Deployment"));
    assert.match(section, /api\/v1\/status\/config[^\n]*grep -m1 'runbook_base_url: https:\/\/'/);
    assert.match(section, /api\/v1\/rules\?type=alert/);
    assert.match(section, /`nats`/);
    assert.match(section, /up\{job="nats",namespace="'\$NS'"\} == 0/);
  });
});

describe("Oura webhooks are configured, or the 503s page", () => {
  test("the runbook creates ingest-oura-webhook with every key ingest reads from it, and gates on it", async () => {
    const runbook = await readFile(RUNBOOK, "utf8");
    const manifest = await readFile(join(ROOT, "deploy/k8s/base/ingest.yaml"), "utf8");
    const keys = parseAllDocuments(manifest)
      .map((d) => d.toJS() as { kind?: string; spec?: { template?: { spec?: { containers?: unknown[] } } } })
      .filter((d) => d.kind === "Deployment")
      .flatMap((d) => (d.spec?.template?.spec?.containers ?? []) as { env?: { valueFrom?: unknown }[] }[])
      .flatMap((c) => c.env ?? [])
      .map((e) => (e.valueFrom as { secretKeyRef?: { name: string; key: string } } | undefined)?.secretKeyRef)
      .filter((ref) => ref?.name === "ingest-oura-webhook")
      .map((ref) => ref!.key);
    assert.deepEqual(keys.sort(), ["OURA_VERIFICATION_TOKEN", "OURA_WEBHOOK_SECRET"]);
    const create = /kubectl create secret generic ingest-oura-webhook (?:[^\n\\]|\\\n)*/.exec(runbook)?.[0] ?? "";
    for (const key of keys) assert.match(create, new RegExp(`--from-literal=${key}=`), key);
    assert.match(runbook, /kubectl get secret -n "\$NS" ingest-oura-webhook/);
    assert.match(runbook, /grep -m1 'Oura webhooks'/, "Deployment Step 1 checks ingest logged them enabled");
  });
});
