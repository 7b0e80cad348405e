import type { JetStreamManager, StreamInfo } from "@nats-io/jetstream";
import { listStreams, storedMessage, streamInfo as readStreamInfo } from "../inspect.js";
import {
  formatBytes,
  formatDuration,
  formatLimit,
  list,
  payloadLines,
  rows,
  table,
  writeJson,
  type Writer,
} from "../output.js";
import { usageError, type CliExitCode, type Command } from "./command.js";

/** `aa-ops stream ls`: one row per stream; `--json` prints the servers' StreamInfo objects. */
export async function streamList(jsm: JetStreamManager, write: Writer, json: boolean): Promise<CliExitCode> {
  const infos = await listStreams(jsm);
  if (json) {
    writeJson(write, infos);
    return 0;
  }
  if (infos.length === 0) {
    write("No streams defined");
    return 0;
  }
  const body = infos.map((i) => [
    i.config.name,
    list(i.config.subjects),
    String(i.state.messages),
    formatBytes(i.state.bytes),
    String(i.state.consumer_count),
  ]);
  table(write, ["Name", "Subjects", "Messages", "Bytes", "Consumers"], body);
  return 0;
}

/** `aa-ops stream info <stream>`: configuration and state; `--json` prints the server's StreamInfo. */
export async function streamInfo(
  jsm: JetStreamManager,
  name: string,
  write: Writer,
  json: boolean,
): Promise<CliExitCode> {
  const info = await readStreamInfo(jsm, name);
  if (json) writeJson(write, info);
  else writeStreamInfo(info, write);
  return 0;
}

function writeStreamInfo(info: StreamInfo, write: Writer): void {
  const { config, state } = info;
  write(`Stream ${config.name} (created ${info.created})`);
  if (config.description) write(`  ${config.description}`);
  write("");
  write("Configuration:");
  rows(write, [
    ["Subjects", list(config.subjects)],
    ["Storage", config.storage],
    ["Retention", config.retention],
    ["Discard Policy", config.discard],
    ["Max Age", formatDuration(config.max_age)],
    ["Duplicate Window", formatDuration(config.duplicate_window, "none")],
    ["Replicas (num_replicas)", String(config.num_replicas)],
    ["Max Messages", formatLimit(config.max_msgs)],
    ["Max Bytes", formatLimit(config.max_bytes)],
  ]);
  write("");
  write("State:");
  rows(write, [
    ["Messages", String(state.messages)],
    ["Bytes", formatBytes(state.bytes)],
    ["First Sequence", `${state.first_seq}${state.messages > 0 ? ` @ ${state.first_ts}` : ""}`],
    ["Last Sequence", `${state.last_seq}${state.messages > 0 ? ` @ ${state.last_ts}` : ""}`],
    ["Consumers", String(state.consumer_count)],
  ]);
}

/** `aa-ops stream get <stream> <seq>`: one stored message with its headers and payload. */
export async function streamGet(
  jsm: JetStreamManager,
  name: string,
  seq: number,
  write: Writer,
  json: boolean,
): Promise<CliExitCode> {
  const view = await storedMessage(jsm, name, seq);
  if (json) {
    writeJson(write, view);
    return 0;
  }
  write(`Message ${name}#${view.seq}`);
  rows(write, [
    ["Subject", view.subject],
    ["Sequence", String(view.seq)],
    ["Time", view.time],
  ]);
  write("");
  write("Headers:");
  const headers = Object.entries(view.headers);
  if (headers.length === 0) write("  (none)");
  for (const [key, value] of headers) write(`  ${key}: ${value}`);
  write("");
  write("Payload:");
  for (const line of payloadLines(view.data)) write(line);
  return 0;
}

function sequence(raw: string | undefined): number {
  if (raw === undefined || !/^[1-9][0-9]*$/.test(raw) || !Number.isSafeInteger(Number(raw))) {
    throw usageError(`<seq> must be a stream sequence number (1, 2, ...), got ${JSON.stringify(raw)}`);
  }
  return Number(raw);
}

const arg = (args: readonly string[], index: number): string => args[index] ?? "";

export const streamCommands: readonly Command[] = [
  {
    words: ["stream", "ls"],
    args: [],
    summary: "List streams: subjects, messages, bytes, consumers",
    details: ["With --json: an array of the server's StreamInfo objects."],
    prepare:
      ({ json }) =>
      (jsm, out) =>
        streamList(jsm, out, json),
  },
  {
    words: ["stream", "info"],
    args: ["<stream>"],
    summary: "Stream configuration and state",
    details: ["With --json: the server's StreamInfo (config + state), e.g. `| jq '.state.messages'`."],
    prepare:
      ({ args, json }) =>
      (jsm, out) =>
        streamInfo(jsm, arg(args, 0), out, json),
  },
  {
    words: ["stream", "get"],
    args: ["<stream>", "<seq>"],
    summary: "One stored message: subject, time, headers, payload",
    details: [
      "With --json: {subject, seq, time, headers, data} where data is the payload as UTF-8 text",
      'and repeated header values are joined with ", ".',
    ],
    prepare: ({ args, json }) => {
      const seq = sequence(args[1]);
      return (jsm, out) => streamGet(jsm, arg(args, 0), seq, out, json);
    },
  },
];
