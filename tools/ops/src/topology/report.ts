import {
  consumerCall,
  streamCall,
  type ApiCall,
  type ApplyResult,
  type ChangeKind,
  type ChangeOutcome,
  type ConsumerChange,
  type StreamChange,
  type TopologyPlan,
} from "@aa/event-bus";
import { errorMessage, fieldLines, formatValue, type Writer } from "../output.js";

const summary = (config: Record<string, unknown>): string =>
  Object.entries(config)
    .filter(([field]) => field !== "name" && field !== "durable_name" && field !== "description")
    .map(([field, value]) => `${field}=${formatValue(field, value)}`)
    .join(", ");

function conflictLines(change: StreamChange): string[] {
  return change.conflicts.map(
    (c) =>
      `${c.subject} is owned by stream ${c.ownedBy}` +
      (c.ownerPattern === c.subject ? "" : ` (its subject ${c.ownerPattern})`),
  );
}

/** Why a stream change is what it is, one reason per line. */
export function streamDetails(change: StreamChange): string[] {
  switch (change.kind) {
    case "create":
      return [summary(change.config)];
    case "update":
      return fieldLines(change.fields).map((line) => line.trim());
    case "needs_migration":
      return [...conflictLines(change), ...fieldLines(change.fields).map((line) => line.trim())];
    case "forbidden":
      return [
        ...fieldLines(change.fields).map((line) => line.trim()),
        "storage and retention are fixed at creation: this needs a delete and recreate, which aa-ops never does",
      ];
    default:
      return [];
  }
}

/** Why a consumer change is what it is, one reason per line. */
export function consumerDetails(change: ConsumerChange): string[] {
  const lines = consumerReason(change);
  const elsewhere = change.elsewhere.join(", ");
  if (elsewhere !== "") lines.push(`the durable ${change.spec.durable} exists now on ${elsewhere}`);
  return lines;
}

function consumerReason(change: ConsumerChange): string[] {
  const { spec, stream } = change;
  if (change.kind === "create") return [summary(change.config)];
  if (change.kind === "update") return fieldLines(change.fields).map((line) => line.trim());
  if (change.kind === "needs_migration") {
    return [
      `stream ${stream ?? "?"} does not capture ${spec.filterSubject} until the migration hands its subjects over`,
    ];
  }
  if (change.kind !== "forbidden") return [];
  if (stream === undefined) return [`no stream of this mode captures ${spec.filterSubject}`];
  return [
    ...fieldLines(change.fields).map((line) => line.trim()),
    "ack policy and deliver policy are fixed at creation: this needs a delete and recreate, which aa-ops never does",
  ];
}

export const consumerLabel = (change: ConsumerChange): string =>
  `${change.spec.durable} on ${change.stream ?? "(no stream)"}`;

/** The JSON of a plan: every change with its kind, details and, when safe, the API call. */
export function planJson(plan: TopologyPlan, heading: Record<string, unknown>): Record<string, unknown> {
  return {
    ...heading,
    streams: plan.streams.map((c) => ({
      stream: c.spec.name,
      kind: c.kind,
      fields: c.fields,
      conflicts: c.conflicts,
      call: streamCall(c) ?? null,
    })),
    consumers: plan.consumers.map((c) => ({
      durable: c.spec.durable,
      stream: c.stream ?? null,
      kind: c.kind,
      fields: c.fields,
      elsewhere: c.elsewhere,
      call: consumerCall(c) ?? null,
    })),
  };
}

const KINDS: readonly ChangeKind[] = ["none", "create", "update", "needs_migration", "forbidden"];

/** `2 create, 1 none, 3 needs_migration`: the kinds that occur, in a fixed order. */
export function countKinds(plan: TopologyPlan): string {
  const all = [...plan.streams, ...plan.consumers];
  return KINDS.map((kind) => [kind, all.filter((c) => c.kind === kind).length] as const)
    .filter(([, count]) => count > 0)
    .map(([kind, count]) => `${count} ${kind}`)
    .join(", ");
}

function writeChange(write: Writer, kind: ChangeKind, label: string, details: readonly string[]): void {
  write(`  ${kind.padEnd(15)}  ${label}`);
  for (const line of details) write(`  ${"".padEnd(15)}    ${line}`);
}

/** The plan as text: streams, then consumers, each change with its reasons. */
export function writePlan(write: Writer, plan: TopologyPlan): void {
  write("Streams:");
  for (const change of plan.streams) writeChange(write, change.kind, change.spec.name, streamDetails(change));
  write("");
  write("Consumers:");
  for (const change of plan.consumers) writeChange(write, change.kind, consumerLabel(change), consumerDetails(change));
  write("");
  write(`Plan: ${countKinds(plan)}`);
}

/** A one-line call as `--dry-run` prints it: the API subject, then the JSON body. */
export const callLine = (call: ApiCall): string => `${call.api} ${JSON.stringify(call.body)}`;

/** What happened to one change sent through the applier, as printed and as `--json` shows it. */
export interface ApplyOutcome {
  type: "stream" | "consumer";
  name: string;
  kind: ChangeKind;
  result: ApplyResult;
  call?: ApiCall;
  reasons: string[];
}

/** The report of one outcome of the shared applier: its label, and why it was skipped or failed. */
export function describeOutcome(outcome: ChangeOutcome): ApplyOutcome {
  const { type, result, call } = outcome;
  const base = { type, kind: outcome.change.kind, result, ...(call ? { call } : {}) };
  const name = outcome.type === "stream" ? outcome.change.spec.name : consumerLabel(outcome.change);
  if (result === "unchanged") return { ...base, name, reasons: [] };
  if (result === "failed") return { ...base, name, reasons: [errorMessage(outcome.error)] };
  if (outcome.type === "stream") return { ...base, name, reasons: streamDetails(outcome.change) };
  if (outcome.blockedBy !== undefined) {
    return { ...base, name, reasons: [`stream ${outcome.blockedBy} was not ${outcome.change.kind}d (see above)`] };
  }
  return { ...base, name, reasons: consumerDetails(outcome.change) };
}

const VERB: Record<string, string> = { create: "created", update: "updated" };

/** The one format of a sent (or, in a dry run, unsent) change: `topology apply` and `migrate` print it. */
export function writeOutcome(write: Writer, o: ApplyOutcome): void {
  const label = `${o.type} ${o.name}`;
  if (o.result === "unchanged") write(`✓  ${label}: no change`);
  if (o.result === "applied") write(`✅ ${label}: ${VERB[o.kind] ?? o.kind} (${o.call?.api ?? "?"})`);
  if (o.result === "would_apply") {
    write(`🔍 ${label}: would ${o.kind}`);
    if (o.call) write(`   Would send: ${callLine(o.call)}`);
  }
  if (o.result === "skipped") write(`⏭  ${label}: skipped (${o.kind})`);
  if (o.result === "failed") write(`❌ ${label}: ${o.kind} failed`);
  if (o.result === "skipped" || o.result === "failed") for (const reason of o.reasons) write(`   - ${reason}`);
}
