import { JetStreamApiCodes, JetStreamApiError, type JetStreamManager } from "@nats-io/jetstream";
import type { Writer } from "../output.js";
import type { OpsEnv } from "../settings.js";

/** 0: done; 1: the request failed or left work undone; 2: the command line is wrong. */
export type CliExitCode = 0 | 1 | 2;

/** A failure said in one line; exit code 2 marks a mistake in the command line. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 1,
  ) {
    super(message);
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

/** The stream and consumer a request named, for a readable "not found". */
export interface Target {
  stream: string;
  consumer?: string;
}

function notFoundMessage(error: unknown, target: Target): string | undefined {
  if (!(error instanceof JetStreamApiError)) return undefined;
  if (error.code === JetStreamApiCodes.StreamNotFound) return `stream ${target.stream} not found`;
  if (error.code === JetStreamApiCodes.ConsumerNotFound)
    return `consumer ${target.consumer ?? "?"} not found on stream ${target.stream}`;
  return undefined;
}

/** Awaits a JetStream request, turning "stream/consumer not found" into a one-line CliError. */
export async function request<T>(promise: Promise<T>, target: Target): Promise<T> {
  try {
    return await promise;
  } catch (error) {
    const message = notFoundMessage(error, target);
    throw message === undefined ? error : new CliError(message);
  }
}

/** Collects an async listing (such as `jsm.streams.list()`). */
export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}
