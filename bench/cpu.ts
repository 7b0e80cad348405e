import { execFileSync } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";

/** The processes whose CPU time the bench attributes per event. */
export const CPU_COMPONENTS = ["ingest", "normalize", "nats-server", "postgres", "bench"] as const;
export type CpuComponent = (typeof CPU_COMPONENTS)[number];

/** CPU time (user + system) per component, in ms. */
export type CpuMs = Record<CpuComponent, number>;

/** CPU per event of one phase, in µs, per component. */
export interface CpuPerEvent {
  events: number;
  seconds: number;
  micros: Record<CpuComponent, number>;
}

const TICK_MS = 1000 / Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim() || 100);

interface ProcStat {
  pid: number;
  ppid: number;
  comm: string;
  /** utime + stime + cutime + cstime, in ms: the process and its children already reaped. */
  cpuMs: number;
}

async function procStat(pid: number): Promise<ProcStat | undefined> {
  const text = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  // comm is in parentheses and may hold spaces; the fields after it are space separated.
  const close = text.lastIndexOf(")");
  const fields = text.slice(close + 2).split(" ");
  const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i] ?? 0), 0);
  return { pid, ppid: Number(fields[1]), comm: text.slice(text.indexOf("(") + 1, close), cpuMs: ticks * TICK_MS };
}

async function allProcesses(): Promise<ProcStat[]> {
  const pids = (await readdir("/proc")).filter((name) => /^\d+$/.test(name)).map(Number);
  const stats = await Promise.all(pids.map(procStat));
  return stats.filter((s): s is ProcStat => s !== undefined);
}

/**
 * CPU of the trees rooted at `roots`. Live processes count with their reaped children
 * (cutime/cstime), so a backend that exits between two samples moves from its own line to its
 * parent's, and the sum stays continuous.
 */
function treeCpuMs(processes: readonly ProcStat[], roots: ReadonlySet<number>): number {
  const byPid = new Map(processes.map((p) => [p.pid, p]));
  const inTree = (p: ProcStat): boolean => {
    for (let q: ProcStat | undefined = p; q; q = byPid.get(q.ppid)) if (roots.has(q.pid)) return true;
    return false;
  };
  return processes.filter(inTree).reduce((sum, p) => sum + p.cpuMs, 0);
}

/** Where the bench's PostgreSQL runs: a private cluster's postmaster, or every postgres process on the machine. */
export type PostgresScope = { kind: "private"; port: number } | { kind: "shared" };

/** PostgreSQL roots: postgres processes whose parent is not one (the postmaster), of our cluster if private. */
async function postgresRoots(processes: readonly ProcStat[], scope: PostgresScope): Promise<Set<number>> {
  const byPid = new Map(processes.map((p) => [p.pid, p]));
  const roots = processes.filter((p) => p.comm === "postgres" && byPid.get(p.ppid)?.comm !== "postgres");
  if (scope.kind === "shared") return new Set(roots.map((p) => p.pid));
  const ours: number[] = [];
  for (const p of roots) {
    const args = (await readFile(`/proc/${p.pid}/cmdline`, "utf8").catch(() => "")).split("\0");
    if (args.join(" ").includes(`-p ${scope.port} `)) ours.push(p.pid);
  }
  return new Set(ours);
}

/** The pids of each service process at the time of a sample (normalize may have several). */
export type ServicePids = Partial<Record<"ingest" | "normalize", number[]>>;

/** Samples the CPU time of the pipeline's processes; two samples make a phase's cost per event. */
export class CpuProbe {
  constructor(
    readonly natsPid: number,
    readonly postgres: PostgresScope,
  ) {}

  async sample(services: ServicePids): Promise<CpuMs> {
    const processes = await allProcesses();
    const tree = (pids: readonly number[] = []) => treeCpuMs(processes, new Set(pids));
    const self = process.cpuUsage();
    return {
      ingest: tree(services.ingest),
      normalize: tree(services.normalize),
      "nats-server": tree([this.natsPid]),
      postgres: treeCpuMs(processes, await postgresRoots(processes, this.postgres)),
      bench: (self.user + self.system) / 1000,
    };
  }

  /** Starts a phase; the function it returns ends it and divides by the events the phase committed. */
  async begin(services: ServicePids): Promise<(events: number, servicesAtEnd?: ServicePids) => Promise<CpuPerEvent>> {
    const before = await this.sample(services);
    const startedAt = performance.now();
    return async (events, servicesAtEnd = services) => {
      const after = await this.sample(servicesAtEnd);
      const micros = Object.fromEntries(
        CPU_COMPONENTS.map((c) => [c, ((after[c] - before[c]) * 1000) / Math.max(events, 1)]),
      ) as Record<CpuComponent, number>;
      return { events, seconds: (performance.now() - startedAt) / 1000, micros };
    };
  }
}
