import { parseArgs } from "node:util";
import {
  CliError,
  usageError,
  type CliExitCode,
  type Command,
  type CommandRun,
  type OfflineRun,
  type OptionSpec,
} from "./commands/command.js";
import { consumerCommands } from "./commands/consumer.js";
import { streamCommands } from "./commands/stream.js";
import { topologyCommands } from "./commands/topology.js";
import { migrateCommands } from "./commands/migrate.js";
import { dlqCommands } from "./commands/dlq.js";
import { statusCommands } from "./commands/status.js";
import { verifyCommands } from "./commands/verify.js";
import { soakCheckCommands } from "./commands/soak-check.js";
import { ouraCommands } from "./commands/oura.js";
import { keysCommands } from "./commands/keys.js";
import { usersCommands } from "./commands/users.js";
import { openJetStream } from "./connection.js";
import { OpsRefusal } from "./errors.js";
import { commandUsage, GLOBAL_OPTIONS, groupUsage, usage } from "./help.js";
import { errorMessage, type Writer } from "./output.js";
import { DEFAULT_NATS_URL, type OpsEnv } from "./settings.js";

/** Every `aa-ops` command, in the order `--help` lists them. */
export const COMMANDS: readonly Command[] = [
  ...streamCommands,
  ...consumerCommands,
  ...topologyCommands,
  ...migrateCommands,
  ...dlqCommands,
  ...statusCommands,
  ...verifyCommands,
  ...soakCheckCommands,
  ...ouraCommands,
  ...keysCommands,
  ...usersCommands,
];

/** What the CLI needs from its process; `cli.ts` passes stdout, stderr and process.env. */
export interface CliIo {
  out: Writer;
  err: Writer;
  env: OpsEnv;
}

type Resolution =
  | { kind: "help"; lines: string[] }
  | { kind: "usage"; message: string | undefined; lines: string[] }
  | { kind: "run"; label: string; work: Work; natsUrl: string };

/** The prepared work, tagged with whether it needs a NATS connection. */
type Work = { nats: true; run: CommandRun } | { nats: false; run: OfflineRun };

type ParseOptions = Record<string, { type: "string" | "boolean"; short?: string }>;

const parseOptions = (options: Readonly<Record<string, OptionSpec>>): ParseOptions =>
  Object.fromEntries(
    Object.entries(options).map(([name, { type, short }]) => [name, short ? { type, short } : { type }]),
  );

// Every option any command knows, to find the command words wherever the options are.
const ALL_OPTIONS = parseOptions(Object.assign({}, GLOBAL_OPTIONS, ...COMMANDS.map((c) => c.options ?? {})));

function natsUrlOf(option: string | boolean | undefined, env: OpsEnv): string {
  if (typeof option === "string") {
    if (option.trim() === "") throw usageError("--nats-url needs a URL, e.g. nats://127.0.0.1:4222");
    return option.trim();
  }
  return env.NATS_URL?.trim() || DEFAULT_NATS_URL;
}

/** Parses the command's own options strictly and lets it check its arguments. */
function prepare(command: Command, argv: readonly string[], env: OpsEnv): Resolution {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: parseOptions({ ...GLOBAL_OPTIONS, ...command.options }),
    allowPositionals: true,
    strict: true,
  });
  const args = positionals.slice(command.words.length);
  if (args.length !== command.args.length) {
    const expected = command.args.length === 0 ? "no arguments" : command.args.join(" ");
    throw usageError(
      `${command.words.join(" ")} takes ${expected}, got ${args.length === 0 ? "none" : args.join(" ")}`,
    );
  }
  const natsUrl = natsUrlOf(values["nats-url"], env);
  const input = { args, options: values, env, json: values.json === true, natsUrl };
  const work: Work =
    command.nats === false ? { nats: false, run: command.prepare(input) } : { nats: true, run: command.prepare(input) };
  return { kind: "run", label: `aa-ops ${command.words.join(" ")}`, work, natsUrl };
}

function resolve(argv: readonly string[], env: OpsEnv): Resolution {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: ALL_OPTIONS,
    allowPositionals: true,
    strict: false,
  });
  const [group, sub] = positionals;
  const help = values.help === true;
  if (group === undefined)
    return help
      ? { kind: "help", lines: usage(COMMANDS) }
      : { kind: "usage", message: undefined, lines: usage(COMMANDS) };
  if (!COMMANDS.some((c) => c.words[0] === group))
    return { kind: "usage", message: `unknown command "${group}"`, lines: usage(COMMANDS) };
  const command = COMMANDS.find((c) => c.words[0] === group && (c.words.length === 1 || c.words[1] === sub));
  if (command === undefined) {
    if (sub === undefined && help) return { kind: "help", lines: groupUsage(group, COMMANDS) };
    const message = sub === undefined ? `"${group}" needs a command` : `unknown command "${group} ${sub}"`;
    return { kind: "usage", message, lines: groupUsage(group, COMMANDS) };
  }
  if (help) return { kind: "help", lines: commandUsage(command) };
  return prepare(command, argv, env);
}

/** Runs the work, turning a thrown error into one line on `err` and its exit code. */
async function reported(run: () => Promise<CliExitCode>, fail: Writer): Promise<CliExitCode> {
  try {
    return await run();
  } catch (error) {
    fail(errorMessage(error));
    if (error instanceof CliError) return error.exitCode;
    // Refused before anything changed: the request must change, as a wrong command line.
    return error instanceof OpsRefusal ? 2 : 1;
  }
}

async function execute(resolution: Extract<Resolution, { kind: "run" }>, io: CliIo): Promise<CliExitCode> {
  const fail = (message: string) => io.err(`aa-ops: error: ${message}`);
  const { work } = resolution;
  // Commands that need no NATS (Oura API, API keys) open no connection at all.
  if (!work.nats) return reported(() => work.run(io.out), fail);
  const connection = await openJetStream(resolution.natsUrl, io.env, resolution.label, (line) =>
    fail(line.replace(/^❌\s*/, "")),
  );
  if (connection === undefined) return 1;
  try {
    return await reported(() => work.run(connection.jsm, io.out), fail);
  } finally {
    await connection.close().catch(() => undefined);
  }
}

/**
 * Runs one `aa-ops` command line. Exit codes: 0 done, 1 the request failed (one line on
 * `err`), 2 the command line is wrong (the message and how to get help on `err`).
 */
export async function runAaOps(argv: readonly string[], io: CliIo): Promise<CliExitCode> {
  let resolution: Resolution;
  try {
    resolution = resolve(argv, io.env);
  } catch (error) {
    io.err(`aa-ops: error: ${errorMessage(error)}`);
    io.err('Run "aa-ops <command> --help" for usage.');
    if (error instanceof CliError) return error.exitCode;
    return (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS") ? 2 : 1;
  }
  if (resolution.kind === "help") {
    for (const line of resolution.lines) io.out(line);
    return 0;
  }
  if (resolution.kind === "usage") {
    if (resolution.message !== undefined) io.err(`aa-ops: error: ${resolution.message}`);
    for (const line of resolution.lines) io.err(line);
    return 2;
  }
  return execute(resolution, io);
}
