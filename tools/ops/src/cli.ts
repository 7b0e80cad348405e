#!/usr/bin/env node
// The `aa-ops` CLI: wires the process (argv, stdout, stderr, env) to runAaOps.
import { runAaOps } from "./aa-ops.js";

// `aa-ops stream ls | head -3` closes the pipe early; that is not a failure of the command.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code !== "EPIPE") throw error;
  process.exit(process.exitCode ?? 0);
});

process.exitCode = await runAaOps(process.argv.slice(2), {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  env: process.env,
});
