// Shared by the entry points: loads the built @aa/ops library, or says how to build it.
import { fileURLToPath } from "node:url";

export async function loadOps() {
  try {
    return await import("@aa/ops");
  } catch (error) {
    // Only "not installed / not built" gets the hint; a real bug keeps its stack trace.
    if (error?.code !== "ERR_MODULE_NOT_FOUND") throw error;
    const root = fileURLToPath(new URL("../../..", import.meta.url)).replace(/\/$/, "");
    console.error(`❌ Cannot load @aa/ops: the workspace is not installed or not built (${error.message})`);
    console.error(`   Run: cd ${root} && npm ci && npm run build`);
    process.exit(1);
  }
}
