import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import { COMMANDS } from "../../tools/ops/src/aa-ops.js";
import { GLOBAL_OPTIONS } from "../../tools/ops/src/help.js";

const RUNBOOK = new URL("../../docs/phase-3/ops/PHASE_B_RUNBOOK.md", import.meta.url);

/** Every `aa-ops <command> … --flag` the runbook tells an operator to type, with its line. */
async function invocations(): Promise<{ words: string[]; flags: string[]; line: string }[]> {
  const text = await readFile(RUNBOOK, "utf8");
  const found = [];
  for (const line of text.split("\n")) {
    for (const m of line.matchAll(/\baa-ops ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?([^`#|\n]*)/g)) {
      const words = [m[1]!, m[2]].filter((w): w is string => w !== undefined);
      const flags = [...(m[3] ?? "").matchAll(/(?:^|\s)--([a-z][a-z-]*)/g)].map((f) => f[1]!);
      found.push({ words, flags, line: line.trim() });
    }
  }
  return found;
}

test("every aa-ops command and flag the runbook names exists (an operator at 2 a.m. cannot guess)", async () => {
  const calls = await invocations();
  assert.ok(calls.some((c) => c.words[0] === "migrate" && c.flags.includes("forward-unprocessed")));
  const problems: string[] = [];
  for (const call of calls) {
    if (!COMMANDS.some((c) => c.words[0] === call.words[0])) continue; // prose: "the aa-ops pod"
    const command = COMMANDS.find(
      (c) => c.words[0] === call.words[0] && (c.words.length === 1 || c.words[1] === call.words[1]),
    );
    if (command === undefined) {
      problems.push(`no command "aa-ops ${call.words.join(" ")}": ${call.line}`);
      continue;
    }
    for (const flag of call.flags)
      if (!(flag in (command.options ?? {})) && !(flag in GLOBAL_OPTIONS))
        problems.push(`aa-ops ${command.words.join(" ")} has no --${flag}: ${call.line}`);
  }
  assert.deepEqual(problems, []);
});
