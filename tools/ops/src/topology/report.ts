import {
  consumerCall,
  streamCall,
  type ApiCall,
  type ChangeKind,
  type ConsumerChange,
  type StreamChange,
  type TopologyPlan,
} from "@aa/event-bus";
import { fieldLines, formatValue, type Writer } from "../output.js";

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
