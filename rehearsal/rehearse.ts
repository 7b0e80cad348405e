import { auditPath, type PathReport } from "./audit.js";
import { PATHS } from "./paths.js";
import { createWorld } from "./world.js";

export interface RehearsalOptions {
  /** Producer readings per second and at most this many per path (bounded: CI runs this). */
  perSecond: number;
  maxEvents: number;
  log?: (line: string) => void;
}

/** Plays one path in order on a fresh machine of its own and audits its ledger; the servers go away after. */
export async function rehearsePath(name: string, options: RehearsalOptions): Promise<PathReport> {
  const steps = PATHS[name];
  if (!steps) throw new Error(`no rehearsal path ${name}; paths: ${Object.keys(PATHS).join(", ")}`);
  const log = options.log ?? (() => {});
  const startedAt = Date.now();
  const world = await createWorld(name, options);
  try {
    for (const step of steps) {
      const t = Date.now();
      await step.play(world);
      const accepted = world.producers.ledger.count("acked");
      log(`[${name}] ${step.section}: ${step.heading} ✓ (${Date.now() - t} ms, ${accepted} accepted so far)`);
    }
    return await auditPath(world, startedAt);
  } catch (error) {
    const services = Object.values({ ...world.services, ...world.legacy }).filter(Boolean);
    const tails = services.map((s) => `--- ${s!.name}\n${s!.lines.slice(-15).join("\n")}`).join("\n");
    throw new Error(`[${name}] ${(error as Error).message}\n${tails}`, { cause: error });
  } finally {
    await world.close();
  }
}
