import type { ConsumerConfig, ConsumerInfo, JetStreamManager, SequenceInfo } from "@nats-io/jetstream";
import { formatDuration, formatLimit, list, rows, table, writeJson, type Writer } from "../output.js";
import { consumerInfo as readConsumerInfo, listConsumers } from "../inspect.js";
import type { CliExitCode, Command } from "./command.js";

const filterOf = (config: ConsumerConfig): string =>
  config.filter_subject ?? list(config.filter_subjects, "(all subjects of the stream)");

// The server sends `last_active` as an RFC 3339 time (the client's type says nanoseconds).
function lastActive(seq: SequenceInfo): string {
  const at: unknown = seq.last_active;
  return typeof at === "string" && at !== "" ? ` at ${at}` : "";
}

const position = (seq: SequenceInfo): string => `stream seq ${seq.stream_seq}, consumer seq ${seq.consumer_seq}`;

/** `aa-ops consumer ls <stream>`; `--json` prints the server's ConsumerInfo objects. */
export async function consumerList(
  jsm: JetStreamManager,
  stream: string,
  write: Writer,
  json: boolean,
): Promise<CliExitCode> {
  const infos = await listConsumers(jsm, stream);
  if (json) {
    writeJson(write, infos);
    return 0;
  }
  if (infos.length === 0) {
    write(`No consumers on stream ${stream}`);
    return 0;
  }
  const headings = [
    "Consumer",
    "Filter Subject",
    "Ack",
    "Deliver",
    "Max Deliver",
    "Ack Wait",
    "Max Ack Pending",
    "Pending",
    "Ack Pending",
    "Redelivered",
    "Last Delivered",
  ];
  table(write, headings, infos.map(consumerRow));
  return 0;
}

function consumerRow(info: ConsumerInfo): string[] {
  const { config } = info;
  return [
    info.name,
    filterOf(config),
    config.ack_policy,
    config.deliver_policy,
    formatLimit(config.max_deliver),
    formatDuration(config.ack_wait, "default"),
    formatLimit(config.max_ack_pending),
    String(info.num_pending),
    String(info.num_ack_pending),
    String(info.num_redelivered),
    String(info.delivered.stream_seq),
  ];
}

/** `aa-ops consumer info <stream> <durable>`; `--json` prints the server's ConsumerInfo. */
export async function consumerInfo(
  jsm: JetStreamManager,
  stream: string,
  name: string,
  write: Writer,
  json: boolean,
): Promise<CliExitCode> {
  const info = await readConsumerInfo(jsm, stream, name);
  if (json) writeJson(write, info);
  else writeConsumerInfo(info, write);
  return 0;
}

function writeConsumerInfo(info: ConsumerInfo, write: Writer): void {
  const { config } = info;
  write(`Consumer ${info.name} on stream ${info.stream_name} (created ${info.created})`);
  if (config.description) write(`  ${config.description}`);
  write("");
  write("Configuration:");
  rows(write, [
    ["Durable Name", config.durable_name ?? "(ephemeral)"],
    ["Filter Subject", filterOf(config)],
    ["Ack Policy", config.ack_policy],
    ["Deliver Policy", config.deliver_policy],
    ["Max Deliver", formatLimit(config.max_deliver)],
    ["Ack Wait", formatDuration(config.ack_wait, "default")],
    ["Max Ack Pending", formatLimit(config.max_ack_pending)],
  ]);
  write("");
  write("State:");
  rows(write, [
    ["Num Pending", String(info.num_pending)],
    ["Ack Pending", String(info.num_ack_pending)],
    ["Redelivered", String(info.num_redelivered)],
    ["Last Delivered", `${position(info.delivered)}${lastActive(info.delivered)}`],
    ["Ack Floor", `${position(info.ack_floor)}${lastActive(info.ack_floor)}`],
    ["Waiting Pulls", String(info.num_waiting)],
  ]);
}

const arg = (args: readonly string[], index: number): string => args[index] ?? "";

export const consumerCommands: readonly Command[] = [
  {
    words: ["consumer", "ls"],
    args: ["<stream>"],
    summary: "List the consumers of a stream with their settings and progress",
    details: ["With --json: an array of the server's ConsumerInfo objects."],
    prepare:
      ({ args, json }) =>
      (jsm, out) =>
        consumerList(jsm, arg(args, 0), out, json),
  },
  {
    words: ["consumer", "info"],
    args: ["<stream>", "<consumer>"],
    summary: "Consumer configuration and state",
    details: ["With --json: the server's ConsumerInfo, e.g. `| jq '.config.max_deliver'`."],
    prepare:
      ({ args, json }) =>
      (jsm, out) =>
        consumerInfo(jsm, arg(args, 0), arg(args, 1), out, json),
  },
];
