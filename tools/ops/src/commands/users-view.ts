import type { Erasure } from "../erase/erase.js";
import type { Remaining } from "../erase/plan.js";
import { writeJson, type Writer } from "../output.js";

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? "" : "s"}`;

function remainingLine(r: Remaining): string {
  const until = r.agesOutAt ? `ages out by ${r.agesOutAt.toISOString()}` : "kept: the stream has no age limit";
  return `  ${r.stream}: newest message of this user stored ${r.newest.toISOString()}; ${until}`;
}

function ouraLine(e: Erasure): string | undefined {
  const oura = e.footprint.oura;
  if (!oura) return undefined;
  if (!e.act) return `Oura account linked: its grant would be revoked at Oura and its tokens deleted`;
  if (e.ouraRevoked) return "Oura grant revoked at Oura; tokens and link deleted";
  if (e.ouraFailure === undefined) return "Oura tokens and link deleted without revoking them (--no-oura-revoke)";
  return (
    `⚠️  Oura tokens and link deleted, but the grant was not confirmed revoked at Oura: ${e.ouraFailure}. ` +
    "The user can remove the app in the Oura app (Settings, Connected apps)."
  );
}

/** Everything that was not erased, and why. */
function leftLines(e: Erasure): string[] {
  const lines = (e.remaining ?? []).map(remainingLine);
  for (const key of e.footprint.scopedKeys)
    lines.push(
      `  API key ${key} names this user in its scope: revoke it (aa-ops keys revoke ${key}), ` +
        "and issue one without the user",
    );
  if (e.purgeFailure !== undefined) lines.push(`  ⚠️  DLQ purge stopped: ${e.purgeFailure} (run again)`);
  return lines;
}

export function writeErasure(out: Writer, e: Erasure): void {
  out(
    e.act ? `Erased user ${e.userId}` : `Dry run: what erasing user ${e.userId} would do (nothing changed; add --yes)`,
  );
  for (const c of e.counts ?? e.footprint.counts) out(`  ${c.table}: ${plural(c.rows, "row")}`);
  const oura = ouraLine(e);
  if (oura) out(oura);
  const letters = e.deadLetters ?? 0;
  out(
    e.act
      ? `${e.dlq}: ${plural(e.purged ?? 0, "dead letter")} purged`
      : `${e.dlq}: ${plural(letters, "dead letter")} to purge`,
  );
  out(`Readings of this user are refused until ${e.until.toISOString()} (tombstone in erased_users)`);
  const left = leftLines(e);
  out(left.length === 0 ? "Nothing left that erasure cannot remove." : "Not erased:");
  for (const line of left) out(line);
  if (e.audit) out(`audit ${JSON.stringify(e.audit)}`);
}

/** The --json shape: no secret (the sealed token stays out). */
export function erasureJson(out: Writer, e: Erasure): void {
  writeJson(out, {
    userId: e.userId,
    dryRun: !e.act,
    rows: Object.fromEntries((e.counts ?? e.footprint.counts).map((c) => [c.table, c.rows])),
    ouraLinked: e.footprint.oura !== undefined,
    ouraRevoked: e.ouraRevoked ?? null,
    ouraFailure: e.ouraFailure ?? null,
    dlq: { stream: e.dlq, deadLetters: e.deadLetters ?? 0, purged: e.purged ?? 0, failure: e.purgeFailure ?? null },
    tombstoneUntil: e.until.toISOString(),
    remaining: (e.remaining ?? []).map((r) => ({
      stream: r.stream,
      newest: r.newest.toISOString(),
      agesOutAt: r.agesOutAt?.toISOString() ?? null,
    })),
    scopedApiKeys: e.footprint.scopedKeys,
    audit: e.audit ?? null,
  });
}
