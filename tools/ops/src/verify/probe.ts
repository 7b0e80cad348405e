import { randomBytes } from "node:crypto";
import { fail, pass, type Check } from "../checks.js";
import { describeDatabase, openDatabase, type DatabaseTarget } from "../database.js";
import { fetchErrorMessage } from "../http.js";
import { errorMessage } from "../output.js";

/** Section of the probe's checks in the report. */
export const PROBE = "End-to-end probe (runbook: E2E Test: HRV Ingestion Flow)";
const PROBE_RMSSD = 55;

/** Where the probe goes in and where its row is looked for. */
export interface ProbeTarget {
  ingestUrl: string;
  /** ingest's /health and /metrics (its ADMIN_PORT listener in production), named in reasons. */
  ingestAdminUrl: string;
  /** Sent as `Authorization: Bearer`; undefined sends no credentials. */
  ingestApiKey: string | undefined;
  /**
   * Where hrv_data is. Opened only to look for the row, so a bad URL or an unreachable database is a
   * failed check in the report, not a crash of the whole verification.
   */
  database: DatabaseTarget;
  /** How long to poll for the row, in ms. */
  probeTimeoutMs: number;
}

/** The probe reading: a user id of its own (so its row is easy to find and delete) and a unique event id. */
export interface Probe {
  userId: string;
  eventId: string;
}

/** A probe with a user id of its own (`aa-ops-verify-<time>`) and a unique event id. */
export function newProbe(now: Date): Probe {
  const stamp = now.toISOString().replace(/[-:.]/g, "");
  return { userId: `aa-ops-verify-${stamp}`, eventId: `aa-ops-verify-${stamp}-${randomBytes(4).toString("hex")}` };
}

const POSTED = "POST /ingest/hrv";

async function postProbe(t: ProbeTarget, probe: Probe): Promise<Check> {
  const name = POSTED;
  const now = new Date();
  const body = {
    userId: probe.userId,
    date: now.toISOString().slice(0, 10),
    rmssd: PROBE_RMSSD,
    capturedAt: now.toISOString(),
    eventId: probe.eventId,
  };
  try {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (t.ingestApiKey !== undefined) headers.authorization = `Bearer ${t.ingestApiKey}`;
    const response = await fetch(`${t.ingestUrl}/ingest/hrv`, {
      method: "POST",
      headers,
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
    const answer = (await response.json().catch(() => ({}))) as Record<string, unknown>;
    if (response.status === 202 && answer.status === "received")
      return pass(PROBE, name, `202 received, userId ${probe.userId}, eventId ${probe.eventId}`);
    if (response.status === 401 || response.status === 403) {
      const reasons = [
        t.ingestApiKey === undefined
          ? "INGEST_API_KEY is not set: ingest wants credentials"
          : "the key in INGEST_API_KEY was refused (revoked, expired, scoped to other user ids, or " +
            "from another database)",
      ];
      return fail(
        PROBE,
        name,
        `HTTP ${response.status} ${JSON.stringify(answer)}`,
        reasons,
        "export INGEST_API_KEY=$(npx aa-ops keys create --name verify --tenant platform-ops " +
          "--all-users --expires-in 1d --json | jq -r .token)",
      );
    }
    return fail(
      PROBE,
      name,
      `HTTP ${response.status} ${JSON.stringify(answer)}`,
      ['expected 202 {"status":"received",…}'],
      `curl -s ${t.ingestAdminUrl}/health`,
    );
  } catch (error) {
    return fail(
      PROBE,
      name,
      `ingest did not answer: ${fetchErrorMessage(error)}`,
      [],
      `curl -s ${t.ingestAdminUrl}/health`,
    );
  }
}

interface ProbeRow {
  user_id: string;
  rmssd: number;
  ln_rmssd: number;
}

// event_id alone is not unique (another tenant may use the same one): the user narrows it to the probe's row.
const ROW_SQL = "SELECT user_id, rmssd, ln_rmssd FROM hrv_data WHERE user_id = $1 AND event_id = $2";

async function waitForRow(t: ProbeTarget, probe: Probe): Promise<{ row: ProbeRow | undefined; ms: number }> {
  const pool = openDatabase(t.database);
  const started = Date.now();
  try {
    for (;;) {
      const { rows } = await pool.query<ProbeRow>(ROW_SQL, [probe.userId, probe.eventId]);
      if (rows[0] !== undefined || Date.now() - started > t.probeTimeoutMs)
        return { row: rows[0], ms: Date.now() - started };
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  } finally {
    await pool.end().catch(() => undefined);
  }
}

export function rowVerdict(row: ProbeRow | undefined, ms: number, t: ProbeTarget): Check {
  const name = "row in hrv_data";
  const expected = Math.log(PROBE_RMSSD);
  if (row === undefined) {
    const reasons = [
      "ingest accepted it, so it is in the stream: is normalize pulling (Waiting Pulls, Pending)?",
      "if it was dead-lettered, the DLQ check below says so",
    ];
    return fail(PROBE, name, `no row within ${Math.round(t.probeTimeoutMs / 1000)} s`, reasons, "aa-ops status");
  }
  const detail =
    `after ${(ms / 1000).toFixed(1)} s: user_id ${row.user_id}, ` +
    `rmssd ${row.rmssd}, ln_rmssd ${row.ln_rmssd.toFixed(6)}`;
  if (Math.abs(row.ln_rmssd - expected) < 1e-9) return pass(PROBE, name, `${detail} = ln(${PROBE_RMSSD})`);
  return fail(PROBE, name, detail, [`expected ln(${PROBE_RMSSD}) = ${expected.toFixed(6)}`]);
}

/** (d) The probe through ingest to its `hrv_data` row, polled for `probeTimeoutMs`. The row is kept. */
export async function probeChecks(t: ProbeTarget, probe: Probe): Promise<Check[]> {
  const posted = await postProbe(t, probe);
  if (posted.status !== "PASS")
    return [posted, fail(PROBE, "row in hrv_data", "not looked for: the probe was not accepted")];
  try {
    const { row, ms } = await waitForRow(t, probe);
    return [posted, rowVerdict(row, ms, t)];
  } catch (error) {
    return [
      posted,
      fail(
        PROBE,
        "row in hrv_data",
        `cannot query hrv_data in ${describeDatabase(t.database)}: ${errorMessage(error)}`,
        [],
        "--database-url / --database-schema, or DATABASE_URL / DATABASE_SCHEMA",
      ),
    ];
  }
}

/** True when ingest accepted the probe: its row is then kept, and the report says how to delete it. */
export const probeAccepted = (checks: readonly Check[]): boolean =>
  checks.some((c) => c.section === PROBE && c.name === POSTED && c.status === "PASS");
