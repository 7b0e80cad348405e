// The commands of a private PostgreSQL cluster (initdb + pg_ctl), shared by start-local's long-lived
// cluster under .data/pg and the tests' throwaway ones.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { PostgresSetupError } from "./errors.js";
import { ownerCommand, type ClusterOwner } from "./postgres-binaries.js";

const execFileAsync = promisify(execFile);

/** initdb's arguments: superuser `postgres` with trust auth (the server listens on loopback only), UTF8. */
export function initdbArgs(pgdata: string): string[] {
  return ["-D", pgdata, "-U", "postgres", "--auth=trust", "-E", "UTF8"];
}

/** pg_ctl's `-o` value: the port, the Unix socket in `socketDir`, TCP on 127.0.0.1 only. */
export function serverOptions(port: number, socketDir: string): string {
  return `-p ${port} -k ${socketDir} -c listen_addresses=127.0.0.1`;
}

/** Runs `program` of `binDir` as the cluster's owner (see clusterOwner); rejects with its output on failure. */
export async function runPostgresProgram(
  owner: ClusterOwner | undefined,
  binDir: string,
  program: string,
  args: string[],
): Promise<string> {
  try {
    const { stdout } = await execFileAsync(...ownerCommand(owner, join(binDir, program), args), { encoding: "utf8" });
    return stdout;
  } catch (error) {
    const { stderr, stdout } = error as { stderr?: string; stdout?: string };
    throw new PostgresSetupError(`${program} failed: ${stderr || stdout || error}`, { cause: error });
  }
}
