/**
 * `npm run rehearse:production [-- path ...]`: plays the runbook's production sequence and each rollback
 * against real processes on this machine (private PostgreSQL cluster and nats-server, the 1.0 stand-in,
 * the built services, aa-ops) and prints each path's ledger. Exit 1 when a step fails or a ledger is not
 * clean. See rehearsal/README.md.
 */
import { formatReport, REPORT_HEADER, type PathReport } from "./audit.js";
import { PATHS } from "./paths.js";
import { rehearsePath } from "./rehearse.js";

const names = process.argv.slice(2).filter((a) => !a.startsWith("-"));
const reports: PathReport[] = [];
let failed = false;
for (const name of names.length > 0 ? names : Object.keys(PATHS)) {
  try {
    reports.push(await rehearsePath(name, { perSecond: 40, maxEvents: 4000, log: console.log }));
  } catch (error) {
    failed = true;
    console.error((error as Error).message);
  }
}
console.log(`\n${REPORT_HEADER}\n${reports.map(formatReport).join("\n")}`);
for (const r of reports) for (const note of r.notes) console.log(`${r.path}: ${note}`);
for (const r of reports)
  console.log(`${r.path}: 1.0 disconnects during the planned NATS restart: ${r.plannedDisconnects}`);
const dirty = reports.filter((r) => r.lost + r.duplicates + r.dlq + r.unknown > 0 || r.legacyErrors.length > 0);
for (const r of dirty) console.error(`${r.path}: ledger not clean; 1.0 errors:\n${r.legacyErrors.join("\n")}`);
process.exit(failed || dirty.length > 0 ? 1 : 0);
