/**
 * Delay before redelivery after failed delivery `deliveryCount` (1-based).
 *
 * JetStream counts every delivery against `max_deliver`, so the retry budget is spread
 * over the naks that remain: delays double and sum to `budgetMs` by the last one. With
 * max_deliver 5 and a 10-minute budget that is 40 s, 80 s, 160 s, 320 s; an outage
 * shorter than the budget never exhausts the deliveries of a valid event.
 * Without a delivery limit (`maxDeliver` <= 0) delays double from 1 s up to 5 min.
 */
export function retryDelayMs(deliveryCount: number, maxDeliver: number, budgetMs: number): number {
  const n = Math.max(1, deliveryCount);
  if (maxDeliver <= 0) return Math.min(1_000 * 2 ** (n - 1), 300_000);
  const naks = Math.max(1, maxDeliver - 1);
  const first = budgetMs / (2 ** naks - 1);
  return Math.ceil(first * 2 ** (Math.min(n, naks) - 1));
}
