import { topologyNamesFromEnv } from "@aa/event-bus";
import { list, table, writeJson, type Writer } from "../output.js";
import { ownerText, readStatus, type DurableStatus, type ServerStatus } from "../topology/status.js";
import type { CliExitCode, Command } from "./command.js";

const streamSubjects = (s: ServerStatus["streams"][number]): string =>
  s.parked ? `(parked, awaiting subjects: ${list(s.subjects)})` : list(s.subjects);

const durableNote = (d: DurableStatus): string =>
  d.streamOwnsSubject ? "" : "stream does not own this subject: drain only";

function writeStatus(write: Writer, status: ServerStatus, natsUrl: string): void {
  write(`aa-ops status on ${natsUrl}`);
  write("");
  write(`Mode: ${status.mode.label}`);
  write("");
  write("Subjects:");
  const width = Math.max(...status.subjects.map((o) => o.pattern.length));
  for (const o of status.subjects) write(`  ${o.pattern.padEnd(width)}  ${ownerText(o)}`);
  write("");
  if (status.streams.length === 0) write("No streams defined");
  else
    table(
      write,
      ["Stream", "Subjects", "Messages", "Consumers"],
      status.streams.map((s) => [s.name, streamSubjects(s), String(s.messages), String(s.consumers)]),
    );
  write("");
  if (status.durables.length === 0) write("No durables on any stream");
  else {
    const headings = [
      "Stream",
      "Durable",
      "Filter Subject",
      "Pending",
      "Ack Pending",
      "Redelivered",
      "Waiting Pulls",
      "Note",
    ];
    const row = (d: DurableStatus) => [
      d.stream,
      d.durable,
      d.filterSubject,
      String(d.pending),
      String(d.ackPending),
      String(d.redelivered),
      String(d.waiting),
      durableNote(d),
    ];
    table(write, headings, status.durables.map(row));
  }
  write("");
  write(
    status.dlq.messages === null
      ? `DLQ: stream ${status.dlq.stream} does not exist`
      : `DLQ: ${status.dlq.stream} holds ${status.dlq.messages} message(s)`,
  );
}

export const statusCommands: readonly Command[] = [
  {
    words: ["status"],
    args: [],
    summary: "One screen: stream mode, subject owners, durables (pending, ack pending, pullers), DLQ depth",
    details: [
      "The mode is derived from which streams own athlete-ally.>, sleep.* and vendor.> (publishing follows",
      'subjects): multi, single, mid-migration (subjects split), or "no stream owns <subject>" (publishes',
      "to it fail). Waiting Pulls 0 on a durable means no consumer process is pulling from it now.",
      "Changes nothing; exits 0 whenever the server could be read. With --json: the same as one object.",
    ],
    prepare:
      (input) =>
      async (jsm, out): Promise<CliExitCode> => {
        const status = await readStatus(jsm, topologyNamesFromEnv(input.env));
        if (input.json) writeJson(out, { natsUrl: input.natsUrl, ...status });
        else writeStatus(out, status, input.natsUrl);
        return 0;
      },
  },
];
