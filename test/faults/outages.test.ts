import { describe, test } from "node:test";
import { applyTopology, createStack, type Stack } from "../helpers/stack.js";
import { startPrivatePostgres } from "../helpers/postgres.js";
import { waitFor } from "../helpers/wait.js";
import { startLedgerLoad, type LedgerLoadOptions } from "./ledger.js";
import { startFaultProxy, type FaultMode, type FaultProxy } from "./proxy.js";
import { assertServicesAlive, faultStack, finishAndAudit, publishPoison, setAckWait, sleep } from "./scenario.js";

// The slow fault scenarios, run by `npm run test:faults` (not by `npm test`).
const load = (stack: Stack, prefix: string, extra: Partial<LedgerLoadOptions> = {}) =>
  startLedgerLoad({
    url: stack.ingestUrl,
    prefix,
    ratePerSecond: 80,
    maxSeconds: 20,
    maxAttempts: 80,
    retryDelayMs: 1_500,
    ...extra,
  });

/** Drives load through `proxy`, applies `mode` for `holdMs`, restores it, and audits the run. */
async function holdProxyFault(
  stack: Stack,
  proxy: FaultProxy,
  mode: FaultMode,
  holdMs: number,
  prefix: string,
  scenario: string,
): Promise<void> {
  const driver = load(stack, prefix, { maxSeconds: 15 });
  await sleep(2_000);
  proxy.set(mode);
  await sleep(holdMs);
  proxy.set({ kind: "pass" });
  await finishAndAudit(stack, driver, scenario, { servicesAlive: true });
}

describe("faults: outages and network faults under load", { concurrency: false }, () => {
  test("nats-server paused with SIGSTOP for 10 s", async () => {
    const stack = await faultStack();
    try {
      const driver = load(stack, "nats-stop");
      await sleep(3_000);
      stack.nats.process.kill("SIGSTOP");
      await sleep(10_000);
      stack.nats.process.kill("SIGCONT");
      await finishAndAudit(stack, driver, "nats-server SIGSTOP 10 s", { servicesAlive: true });
    } finally {
      await stack.close();
    }
  });

  test("nats-server down for 40 s: services keep running and resume", async () => {
    const stack = await faultStack();
    try {
      const driver = load(stack, "nats-down", { maxSeconds: 50 });
      await sleep(3_000);
      await stack.nats.kill("SIGKILL");
      await sleep(40_000);
      assertServicesAlive(stack);
      await stack.nats.start();
      await finishAndAudit(stack, driver, "nats-server down 40 s", { servicesAlive: true });
    } finally {
      await stack.close();
    }
  });

  for (const mode of ["fast", "immediate"] as const) {
    test(`PostgreSQL stopped (${mode}) for 30 s under load: no valid event in the DLQ`, async () => {
      const postgres = await startPrivatePostgres();
      const stack = await faultStack({ databaseUrl: postgres.url, normalizeEnv: { RETRY_BUDGET_MS: "120000" } });
      try {
        const driver = load(stack, `pg-${mode}`, { maxSeconds: 40 });
        await sleep(3_000);
        await postgres.stop(mode);
        await sleep(30_000);
        await postgres.start();
        await finishAndAudit(stack, driver, `PostgreSQL stop -m ${mode} 30 s`, { servicesAlive: true });
      } finally {
        await stack.close();
        await postgres.destroy();
      }
    });
  }

  const faults: [string, FaultMode, number][] = [
    ["latency 300 ms", { kind: "latency", ms: 300 }, 8_000],
    ["blackhole", { kind: "blackhole" }, 10_000],
    ["reset", { kind: "reset" }, 5_000],
  ];
  for (const [label, mode, holdMs] of faults) {
    test(`proxy to NATS: ${label} for ${holdMs / 1000} s`, async () => {
      const stack = await createStack({ mode: "multi" });
      const proxy = await startFaultProxy(stack.nats.port);
      try {
        const viaProxy = { NATS_URL: `nats://127.0.0.1:${proxy.port}` };
        await stack.startNormalize(viaProxy);
        await stack.startIngest(viaProxy);
        await setAckWait(stack.jsm, 10_000);
        await holdProxyFault(stack, proxy, mode, holdMs, `nats-proxy-${mode.kind}`, `proxy to NATS: ${label}`);
      } finally {
        await stack.close();
        await proxy.close();
      }
    });

    test(`proxy to PostgreSQL: ${label} for ${holdMs / 1000} s`, async () => {
      const postgres = await startPrivatePostgres();
      const proxy = await startFaultProxy(Number(new URL(postgres.url).port));
      const stack = await createStack({ mode: "multi", databaseUrl: postgres.url });
      try {
        const url = new URL(postgres.url);
        url.port = String(proxy.port);
        await stack.startNormalize({ DATABASE_URL: url.toString(), RETRY_BUDGET_MS: "60000" });
        await stack.startIngest();
        await holdProxyFault(stack, proxy, mode, holdMs, `pg-proxy-${mode.kind}`, `proxy to PostgreSQL: ${label}`);
      } finally {
        await stack.close();
        await proxy.close();
        await postgres.destroy();
      }
    });
  }

  test("the DLQ stream is missing while poison arrives: nothing is dropped", async () => {
    const stack = await faultStack({ normalizeEnv: { RETRY_BUDGET_MS: "3000" } });
    try {
      const driver = load(stack, "dlq-missing", { maxSeconds: 8 });
      await stack.jsm.streams.delete("AA_DLQ");
      const poisonIds = await publishPoison(stack, driver.ledger, "dlq-missing", 5);
      await sleep(8_000);
      await applyTopology(stack.jsm, "multi");
      const faultEndedAt = Date.now();
      await waitFor(async () => (await stack.jsm.streams.info("AA_DLQ")).state.messages >= poisonIds.length, {
        timeoutMs: 120_000,
        what: "poison in the recreated DLQ",
      });
      await finishAndAudit(stack, driver, "DLQ stream missing while poison arrives", { poisonIds, faultEndedAt });
    } finally {
      await stack.close();
    }
  });
});
