import type { Command, OptionSpec } from "./commands/command.js";

/** Options every command takes. */
export const GLOBAL_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  "nats-url": {
    type: "string",
    value: "<url>",
    help: "NATS server URL (default: $NATS_URL, else nats://127.0.0.1:4222)",
  },
  json: { type: "boolean", help: "Print JSON (the server's own objects where there are some) instead of text" },
  help: { type: "boolean", short: "h", help: "Show help" },
};

const syntax = (command: Command): string => [...command.words, ...command.args].join(" ");

function columns(entries: readonly [string, string][]): string[] {
  const width = Math.max(0, ...entries.map(([left]) => left.length));
  return entries.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`);
}

function optionLines(options: Readonly<Record<string, OptionSpec>>): string[] {
  return columns(
    Object.entries(options).map(([name, spec]) => {
      const flag = `${spec.short ? `-${spec.short}, ` : ""}--${name}${spec.value ? ` ${spec.value}` : ""}`;
      return [flag, spec.help];
    }),
  );
}

function commandList(commands: readonly Command[]): string[] {
  return columns(commands.map((command) => [syntax(command), command.summary]));
}

/** `aa-ops --help`: every command and the global options. */
export function usage(commands: readonly Command[]): string[] {
  return [
    "Usage: aa-ops <command> [arguments] [options]",
    "",
    "Inspect the JetStream streams and consumers of the event pipeline, and plan or apply its topology.",
    "",
    "Commands:",
    ...commandList(commands),
    "",
    "Options (every command):",
    ...optionLines(GLOBAL_OPTIONS),
    "",
    'Run "aa-ops <command> --help" for the options of one command.',
  ];
}

/** `aa-ops stream --help`: the commands of one group. */
export function groupUsage(group: string, commands: readonly Command[]): string[] {
  return [
    `Usage: aa-ops ${group} <command> [arguments] [options]`,
    "",
    "Commands:",
    ...commandList(commands.filter((c) => c.words[0] === group)),
  ];
}

/** `aa-ops <group> <command> --help`. */
export function commandUsage(command: Command): string[] {
  const own = command.options ?? {};
  return [
    `Usage: aa-ops ${syntax(command)} [options]`,
    "",
    command.summary,
    ...(command.details ?? []),
    "",
    "Options:",
    ...optionLines({ ...own, ...GLOBAL_OPTIONS }),
  ];
}
