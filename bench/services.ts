import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { freePort } from "../test/helpers/nats.js";
import { baseUrl, startService, type RunningService } from "../test/helpers/service.js";
import { waitFor } from "../test/helpers/wait.js";
import type { Cleanup } from "./env.js";

export type ServiceName = "ingest" | "normalize";

/** A built service running as a child process. */
export interface BenchService {
  name: ServiceName;
  url: string;
  run: RunningService;
}

/** Peak resident memory (VmHWM) of one service process, read just before it was stopped. */
export interface RssSample {
  service: ServiceName;
  pid: number;
  peakMb: number;
}

/** Starts and stops service processes, keeping the peak RSS of each one it stops. */
export class ServiceRunner {
  readonly samples: RssSample[] = [];
  readonly #running = new Set<BenchService>();
  #started = 0;

  /** `profileDir`: each process started writes a V8 CPU profile (on a clean exit) to `<dir>/<n>-<name>-<phase>/`. */
  constructor(
    readonly env: Record<string, string>,
    readonly cleanup: Cleanup,
    readonly profileDir?: string,
  ) {
    cleanup.add("stop the services", () => this.stopAll());
  }

  /**
   * Starts `services/<name>/dist/main.js` on a free port and waits for its /health to answer 200. `phase` names the
   * measurement it serves in the profile directory; `nodeFlags` go to node before the script.
   */
  async start(
    name: ServiceName,
    extraEnv: Record<string, string> = {},
    phase = "e2e",
    nodeFlags: readonly string[] = [],
  ): Promise<BenchService> {
    const port = String(await freePort());
    this.#started++;
    // As flags, not NODE_OPTIONS: Node 20 refuses --cpu-prof there.
    const profileFlags =
      this.profileDir === undefined
        ? []
        : ["--cpu-prof", `--cpu-prof-dir=${resolve(this.profileDir, `${this.#started}-${name}-${phase}`)}`];
    const service: BenchService = {
      name,
      url: baseUrl(port),
      run: startService(name, { ...this.env, ...extraEnv, PORT: port }, { nodeFlags: [...nodeFlags, ...profileFlags] }),
    };
    this.#running.add(service);
    this.cleanup.guard(service.run.process);
    let ready = false;
    // A service that dies while starting fails the bench at once, with its last log lines.
    const died = service.run.exited.then((code) => {
      if (!ready)
        throw new Error(`${name} exited with ${code} while starting:\n${service.run.lines.slice(-20).join("\n")}`);
    });
    died.catch(() => {});
    await Promise.race([
      waitFor(async () => healthy(service), { timeoutMs: 30_000, intervalMs: 50, what: `${name} /health` }),
      died,
    ]);
    ready = true;
    return service;
  }

  async stop(service: BenchService): Promise<void> {
    if (!this.#running.delete(service)) return;
    const peakMb = await peakRssMb(service.run.process.pid);
    if (peakMb !== undefined && service.run.process.pid !== undefined)
      this.samples.push({ service: service.name, pid: service.run.process.pid, peakMb });
    await service.run.stop();
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.#running].map((s) => this.stop(s)));
  }

  /** The highest peak among the processes of a service. */
  peakMb(name: ServiceName): number | undefined {
    const peaks = this.samples.filter((s) => s.service === name).map((s) => s.peakMb);
    return peaks.length > 0 ? Math.max(...peaks) : undefined;
  }
}

/** GET /health's status, its body drained; rejects when nothing answers within `timeoutMs`. */
export async function healthStatus(url: string, timeoutMs = 2_000): Promise<number> {
  const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(timeoutMs) });
  await response.arrayBuffer();
  return response.status;
}

const healthy = async (service: BenchService): Promise<boolean> => (await healthStatus(service.url)) === 200;

/** VmHWM of a process from /proc, in MB; undefined when it is gone. */
export async function peakRssMb(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  const kb = /^VmHWM:\s+(\d+)\s+kB/m.exec(status)?.[1];
  return kb === undefined ? undefined : Number(kb) / 1024;
}
