#!/usr/bin/env node
// The `aa-ops` bin (the CLI itself is src/cli.ts). Hand-written rather than compiled so npm
// links it even before the first build, and a clean rebuild of dist/ cannot drop its
// executable bit (npm sets that bit only when it links the bin).
try {
  await import("../dist/cli.js");
} catch (error) {
  // Only "not installed / not built" gets the hint; a real bug keeps its stack trace.
  if (error?.code !== "ERR_MODULE_NOT_FOUND") throw error;
  const root = new URL("../../..", import.meta.url).pathname.replace(/\/$/, "");
  console.error(`aa-ops: error: the CLI is not built (${error.message})`);
  console.error(`Run: cd ${root} && npm ci && npm run build`);
  process.exit(1);
}
