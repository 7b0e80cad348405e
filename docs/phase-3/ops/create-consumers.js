// Runbook Phase B step 3. The logic lives in tools/ops (@aa/ops); this only wires the process.
import { loadOps } from "./load-ops.js";

const { runCreateConsumers } = await loadOps();
process.exitCode = await runCreateConsumers({ env: process.env, write: (line) => console.log(line) });
