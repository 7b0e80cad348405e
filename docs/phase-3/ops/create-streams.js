// Runbook Phase B step 2. The logic lives in tools/ops (@aa/ops); this only wires the process.
import { loadOps } from "./load-ops.js";

const { runCreateStreams } = await loadOps();
process.exitCode = await runCreateStreams({ env: process.env, write: (line) => console.log(line) });
