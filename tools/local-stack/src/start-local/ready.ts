// What start-local prints once the pipeline is up, and the `--check` self-test.
import { join } from "node:path";
import pg from "pg";
import { findPsql, waitFor } from "../index.js";
import { DEV_KEY_FILE, LOGS, rel, say, StartError } from "./common.js";

function psqlCommand(databaseUrl: string, sql: string): string {
  const u = new URL(databaseUrl);
  const port = u.port && u.port !== "5432" ? ` -p ${u.port}` : "";
  return `psql -h ${u.hostname}${port} -U ${decodeURIComponent(u.username)} -d ${u.pathname.slice(1)} -c "${sql}"`;
}

/** psql's line when there is a psql, and always one that needs only Node (the embedded PostgreSQL has no psql). */
function queryCommands(databaseUrl: string, sql: string): string {
  const npmLine = `DATABASE_URL=${databaseUrl} npm run --silent sql -- "${sql}"`;
  return findPsql() ? `${psqlCommand(databaseUrl, sql)}\n   ${npmLine}` : npmLine;
}

function authLines(apiKey: string | undefined, authMode: string): { header: string; note: string } {
  if (apiKey)
    return {
      header: ` -H "Authorization: Bearer ${apiKey}"`,
      note:
        `   API key    ${apiKey}\n` +
        `              (development key, also in ${rel(DEV_KEY_FILE)}; ` +
        "more: npx aa-ops keys create --name <name> --tenant <tenant>)",
    };
  if (authMode.toLowerCase() === "none")
    return {
      header: "",
      note:
        "   auth       NONE: INGEST_AUTH_MODE=none, ingest accepts requests without credentials " +
        "(development only)",
    };
  return {
    header: ' -H "Authorization: Bearer <jwt>"',
    note: `   auth       ${authMode}: send a JWT from INGEST_JWT_ISSUER`,
  };
}

export interface Ready {
  ingestUrl: string;
  normalizeUrl: string;
  natsUrl: string;
  databaseUrl: string;
  apiKey: string | undefined;
  authMode: string;
  /** `--check`: no "Ctrl-C to stop", since the self-test stops by itself. */
  check: boolean;
}

export function printReady({ ingestUrl, normalizeUrl, natsUrl, databaseUrl, apiKey, authMode, check }: Ready): void {
  const auth = authLines(apiKey, authMode);
  const today = new Date().toLocaleDateString("sv");
  const body = JSON.stringify({ userId: "local-test", date: today, rmssd: 55 });
  const sql =
    "SELECT user_id, date, rmssd, ln_rmssd, created_at FROM hrv_data " +
    "WHERE user_id = 'local-test' ORDER BY created_at DESC LIMIT 1;";
  console.log(`
================================================================
 Pipeline is up
   ingest     ${ingestUrl}   (POST /ingest/hrv)
   normalize  ${normalizeUrl}
   health     ${ingestUrl}/health  ${normalizeUrl}/health
   metrics    ${ingestUrl}/metrics  ${normalizeUrl}/metrics
   NATS_URL      ${natsUrl}
   DATABASE_URL  ${databaseUrl}
   logs       ${rel(join(LOGS, "ingest-service.log"))}, ${rel(join(LOGS, "normalize-service.log"))}
${auth.note}

 Try it:
   curl -X POST ${ingestUrl}/ingest/hrv${auth.header} -H "Content-Type: application/json" -d '${body}'
   ${queryCommands(databaseUrl, sql)}
${check ? "" : "\n Ctrl-C to stop\n"}================================================================
`);
}

/** Posts one reading through ingest and waits (max 20 s) for normalize to store it in `schema`. */
export async function checkReadingStored(
  ingestUrl: string,
  databaseUrl: string,
  apiKey: string | undefined,
  schema: string,
): Promise<void> {
  const reading = {
    userId: "local-check",
    date: new Date().toLocaleDateString("sv"),
    rmssd: 55,
    capturedAt: new Date().toISOString(),
  };
  const headers = { "content-type": "application/json", ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) };
  const response = await fetch(`${ingestUrl}/ingest/hrv`, { method: "POST", headers, body: JSON.stringify(reading) });
  const answer = (await response.json()) as { eventId?: string };
  if (response.status !== 202) throw new StartError(`ingest answered ${response.status}: ${JSON.stringify(answer)}`);
  say(`Posted ${JSON.stringify(reading)} -> ${response.status} eventId ${answer.eventId}`);
  const db = new pg.Client({ connectionString: databaseUrl, options: `-c search_path=${schema}` });
  await db.connect();
  try {
    const sql = "SELECT user_id, date::text, rmssd, ln_rmssd, event_id, created_at FROM hrv_data WHERE event_id = $1";
    // A failed query is "not yet" (the table may still be migrating), as is a missing row.
    const stored = () =>
      db.query(sql, [answer.eventId]).then(
        ({ rows }) => rows[0] as unknown,
        () => undefined,
      );
    const what = `event ${answer.eventId} to appear in hrv_data`;
    const row = await waitFor(stored, { what, timeoutMs: 20_000, intervalMs: 200 });
    console.log(
      `\n[start-local] PASS: HRV reading went ingest -> NATS -> normalize -> PostgreSQL\n` +
        `${JSON.stringify(row, null, 2)}\n`,
    );
  } finally {
    await db.end();
  }
}
