import type { JetStreamClient } from "@nats-io/jetstream";

export interface PipelineOutcome {
  ok: number;
  failed: number;
  firstError?: unknown;
}

/** Runs `task(0)` … `task(count - 1)` keeping at most `window` of them in flight. */
export async function pipelined(
  count: number,
  window: number,
  task: (i: number) => Promise<unknown>,
): Promise<PipelineOutcome> {
  const outcome: PipelineOutcome = { ok: 0, failed: 0 };
  if (count <= 0) return outcome;
  let next = 0;
  let inFlight = 0;
  await new Promise<void>((resolve) => {
    const settle = () => {
      inFlight--;
      if (next < count) launch();
      else if (inFlight === 0) resolve();
    };
    const launch = () => {
      while (inFlight < window && next < count) {
        inFlight++;
        task(next++)
          .then(
            () => void outcome.ok++,
            (error: unknown) => {
              outcome.failed++;
              outcome.firstError ??= error;
            },
          )
          .finally(settle);
      }
    };
    launch();
  });
  return outcome;
}

/**
 * Publishes `count` messages with their own `Nats-Msg-Id`s, `window` un-acknowledged at a time; fails if any was not
 * acknowledged.
 */
export async function publishPipelined(
  js: JetStreamClient,
  subject: string,
  count: number,
  window: number,
  message: (i: number) => { id: string; data: string },
): Promise<void> {
  const outcome = await pipelined(count, window, (i) => {
    const { id, data } = message(i);
    return js.publish(subject, data, { msgID: id, timeout: 30_000 });
  });
  if (outcome.failed > 0)
    throw new Error(
      `${outcome.failed} of ${count} publishes to ${subject} were not acknowledged: ${String(outcome.firstError)}`,
    );
}

/** Milliseconds since `startedAt` (a `performance.now()` value), never 0. */
export const elapsedMs = (startedAt: number): number => Math.max(performance.now() - startedAt, 0.001);

/** Per second, from a count and a duration in ms. */
export const perSecond = (count: number, ms: number): number => (count * 1000) / ms;
