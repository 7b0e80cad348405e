/**
 * Test-only crash points. A service reads `AA_CRASH_POINT` / `AA_CRASH_AFTER` once in its config
 * and passes the resulting callback down; when unset (production) no callback exists at all.
 * The crash is a SIGKILL of this process on the `after`-th time the point is reached, so the
 * fault suite (test/faults/) can prove what survives a crash exactly there.
 */
export function crashPoint(configured: string | undefined, point: string, after = 1): (() => void) | undefined {
  if (configured !== point) return undefined;
  let reached = 0;
  return () => {
    if (++reached >= after) process.kill(process.pid, "SIGKILL");
  };
}
