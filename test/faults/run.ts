/**
 * `npm run test:faults`: every fault scenario (the fast ones in test/ and the slow ones here)
 * plus the bad-input corpus, one file at a time, then the table of audited rows.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { formatRow, TABLE_HEADER, type AuditReport } from "./auditor.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const FILES = [
  "test/bad-input.test.ts",
  "test/faults-crash.test.ts",
  "test/faults/outages.test.ts",
  "test/faults/cluster.test.ts",
];
const table = join(tmpdir(), `aa-faults-${process.pid}.jsonl`);

const run = spawnSync(
  process.execPath,
  ["--import", "tsx", "--test", "--test-concurrency=1", "--test-timeout=900000", ...FILES],
  {
    cwd: ROOT,
    stdio: "inherit",
    env: { ...process.env, AA_FAULTS_TABLE: table },
  },
);
const rows = existsSync(table)
  ? readFileSync(table, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as AuditReport)
  : [];
rmSync(table, { force: true });
console.log(`\n${TABLE_HEADER}\n${rows.map(formatRow).join("\n")}`);
process.exit(run.status ?? 1);
