import { describe, test } from "node:test";
import { startLedgerLoad } from "./faults/ledger.js";
import {
  faultStack,
  finishAndAudit,
  moreAcked,
  publishPoison,
  restartAfterCrash,
  setAckWait,
} from "./faults/scenario.js";
import { getJson } from "./helpers/stack.js";
import { waitFor } from "./helpers/wait.js";

// The fast fault scenarios (also in `npm run test:faults`): crash points and broker kills under load.
describe("faults: crashes under load", { concurrency: false }, () => {
  test("ingest killed after the PubAck, before the reply: the client retries and the event is stored once", async () => {
    const stack = await faultStack({
      ingestEnv: { AA_CRASH_POINT: "ingest:after-puback-before-reply", AA_CRASH_AFTER: "50" },
    });
    try {
      const load = startLedgerLoad({ url: stack.ingestUrl, prefix: "ingest-crash", ratePerSecond: 100, maxSeconds: 4 });
      await restartAfterCrash(stack, "ingest");
      await finishAndAudit(stack, load, "ingest SIGKILL after PubAck before reply");
    } finally {
      await stack.close();
    }
  });

  test("normalize killed after COMMIT before ack: redelivered after the ack wait, stored once", async () => {
    const stack = await faultStack({
      normalizeEnv: { AA_CRASH_POINT: "normalize:after-commit-before-ack", AA_CRASH_AFTER: "30" },
    });
    try {
      await setAckWait(stack.jsm, 5_000);
      const load = startLedgerLoad({
        url: stack.ingestUrl,
        prefix: "normalize-crash",
        ratePerSecond: 100,
        maxSeconds: 4,
      });
      await restartAfterCrash(stack, "normalize");
      await finishAndAudit(stack, load, "normalize SIGKILL after COMMIT before ack");
    } finally {
      await stack.close();
    }
  });

  test("normalize killed before COMMIT: nothing written, redelivered after the ack wait, stored once", async () => {
    const stack = await faultStack({
      normalizeEnv: { AA_CRASH_POINT: "normalize:before-commit", AA_CRASH_AFTER: "5" },
    });
    try {
      await setAckWait(stack.jsm, 5_000);
      const load = startLedgerLoad({
        url: stack.ingestUrl,
        prefix: "before-commit",
        ratePerSecond: 100,
        maxSeconds: 4,
      });
      await restartAfterCrash(stack, "normalize");
      await finishAndAudit(stack, load, "normalize SIGKILL before COMMIT");
    } finally {
      await stack.close();
    }
  });

  test("normalize killed mid-batch (before ack, load running): nothing lost after the restart", async () => {
    const stack = await faultStack();
    try {
      await setAckWait(stack.jsm, 5_000);
      const load = startLedgerLoad({
        url: stack.ingestUrl,
        prefix: "normalize-kill",
        ratePerSecond: 100,
        maxSeconds: 5,
      });
      await moreAcked(load.ledger, 150, "load running");
      const killed = stack.normalize!;
      await waitFor(async () => (await stack.db.pool.query("SELECT 1 FROM hrv_data LIMIT 1")).rowCount === 1, {
        what: "normalize storing rows",
      });
      killed.process.kill("SIGKILL");
      await killed.exited;
      await moreAcked(load.ledger, 100, "ingest accepting while normalize is down");
      await stack.startNormalize();
      await finishAndAudit(stack, load, "normalize SIGKILL under load (in flight)");
    } finally {
      await stack.close();
    }
  });

  test("nats-server SIGKILL and restart three times under load, with poison among valid events", async () => {
    const stack = await faultStack();
    try {
      const load = startLedgerLoad({ url: stack.ingestUrl, prefix: "nats-kill", ratePerSecond: 100, maxSeconds: 12 });
      const poisonIds: string[] = [];
      for (let round = 1; round <= 3; round++) {
        await moreAcked(load.ledger, 150, `load running before kill ${round}`);
        poisonIds.push(...(await publishPoison(stack, load.ledger, `nats-kill-${round}`, 3)));
        await stack.nats.kill("SIGKILL");
        // The outage is felt before the broker returns: both services have noticed it.
        await waitFor(
          async () =>
            (await getJson(`${stack.ingestUrl}/health`)).body.eventBus !== "connected" &&
            ((await getJson(`${stack.normalizeUrl}/health`)).body.services as { nats?: string } | undefined)?.nats !==
              "connected",
          { what: `ingest and normalize see broker kill ${round}` },
        );
        await stack.nats.start();
      }
      await finishAndAudit(stack, load, "nats-server SIGKILL+restart x3 (+poison)", { poisonIds });
    } finally {
      await stack.close();
    }
  });
});
