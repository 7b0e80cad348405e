import type { JetStreamManager } from "@nats-io/jetstream";
import { OpsError } from "../errors.js";
import type { Writer } from "../output.js";
import type { OpsEnv } from "../settings.js";

/** 0: done; 1: the request failed or left work undone; 2: the command line is wrong. */
export type CliExitCode = 0 | 1 | 2;

/** A failure said in one line; exit code 2 marks a mistake in the command line. */
export class CliError extends OpsError {
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 1,
  ) {
    super(message, exitCode === 2 ? "USAGE" : "OPS_FAILED");
    this.name = "CliError";
  }
}

export const usageError = (message: string): CliError => new CliError(message, 2);

/** One option of a command, in the shape `util.parseArgs` takes plus its help text. */
export interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
  /** Placeholder of the value in help, e.g. `<url>`. */
  value?: string;
  help: string;
}

/** What a command gets from the command line, before any connection is made. */
export interface CommandInput {
  /** Positional arguments after the command words. */
  args: readonly string[];
  /** Option values, the global ones included. */
  options: Readonly<Record<string, string | boolean | undefined>>;
  env: OpsEnv;
  json: boolean;
  natsUrl: string;
}

/** Does the work once connected; writes results to `out`. */
export type CommandRun = (jsm: JetStreamManager, out: Writer) => Promise<CliExitCode>;

/** Does work that talks to no NATS server (the Oura API, PostgreSQL); writes results to `out`. */
export type OfflineRun = (out: Writer) => Promise<CliExitCode>;

/** What help shows and the parser needs, whatever the command talks to. */
interface CommandShape {
  /** The command words, e.g. `["stream", "info"]` or `["migrate"]`. */
  words: readonly [string] | readonly [string, string];
  /** Placeholders of the positional arguments, e.g. `["<stream>"]`. */
  args: readonly string[];
  summary: string;
  /** More lines for `aa-ops <cmd> --help`. */
  details?: readonly string[];
  options?: Readonly<Record<string, OptionSpec>>;
}

/** A command on the NATS server: aa-ops connects first and hands it the JetStream manager. */
export interface NatsCommand extends CommandShape {
  nats?: true;
  /** Checks arguments and options (throwing a usage error) and returns the work to do. */
  prepare(input: CommandInput): CommandRun;
}

/** A command that talks to no NATS server: no connection is opened, so a NATS outage cannot stop it. */
export interface OfflineCommand extends CommandShape {
  nats: false;
  /** Checks arguments and options (throwing a usage error) and returns the work to do. */
  prepare(input: CommandInput): OfflineRun;
}

export type Command = NatsCommand | OfflineCommand;
