import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import { formatReport, REPORT_HEADER } from "../rehearsal/audit.js";
import { PATHS } from "../rehearsal/paths.js";
import { rehearsePath } from "../rehearsal/rehearse.js";
import { ROOT } from "./helpers/ops-scripts.js";

// The runbook's production night and each rollback, on private servers, with a shortened soak and a
// bounded load (20 readings/s, at most 1,500 per path): about a minute per path.
for (const path of Object.keys(PATHS)) {
  test(`rehearsal ${path}: every accepted reading stored once, nothing lost, 1.0 never refused`, async () => {
    const report = await rehearsePath(path, { perSecond: 20, maxEvents: 1500 });
    console.log(`${REPORT_HEADER}\n${formatReport(report)}`);
    assert.ok(report.accepted > 100, "producers were accepted throughout");
    assert.equal(report.storedOnce, report.accepted);
    assert.deepEqual(
      {
        lost: report.lost,
        duplicates: report.duplicates,
        dlq: report.dlq,
        unknown: report.unknown,
        rejected: report.rejected,
      },
      { lost: 0, duplicates: 0, dlq: 0, unknown: 0, rejected: 0 },
    );
    assert.deepEqual(report.legacyErrors, [], "1.0 logged permission denied or a NATS disconnect");
  });
}

test("deploy/nats/permissions.conf is the permissions of docs/security.md, word for word", async () => {
  const [conf, doc] = await Promise.all([
    readFile(`${ROOT}/deploy/nats/permissions.conf`, "utf8"),
    readFile(`${ROOT}/docs/security.md`, "utf8"),
  ]);
  const blocks = conf.slice(conf.indexOf("INGEST_PERMISSIONS")).trim();
  assert.ok(doc.includes(blocks), "permissions.conf differs from docs/security.md's config block");
});
