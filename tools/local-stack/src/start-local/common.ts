import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { SetupError } from "../index.js";

/** The repository: this file runs as tools/local-stack/dist/start-local/common.js. */
export const ROOT = fileURLToPath(new URL("../../../..", import.meta.url)).replace(/\/$/, "");
export const DATA = join(ROOT, ".data");
export const LOGS = join(DATA, "logs");
export const DEV_KEY_FILE = join(DATA, "dev-api-key");

/** A start-local failure: printed as its message alone, without a stack. */
export class StartError extends SetupError {}

export const say = (line: string): void => console.log(`[start-local] ${line}`);

/** `path` relative to the repository, for messages. */
export const rel = (path: string): string => path.replace(`${ROOT}/`, "");
