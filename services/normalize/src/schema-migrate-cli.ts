import { createLogger, exitOnStartupError } from "@aa/service-kit";
import { loadMigrateConfig } from "./config.js";
import { checkConnection, createPool } from "./db.js";
import { migrateSchema } from "./schema-migrations.js";

/** `npm run db:migrate`: applies pending SQL migrations alone, for ops who run them before deploying. */
const logger = createLogger({ service: "migrate", format: "pretty" });
try {
  const config = loadMigrateConfig(process.env);
  const pool = createPool({ url: config.DATABASE_URL, tls: config, schema: config.DATABASE_SCHEMA, max: 1, logger });
  try {
    await checkConnection(pool, config.DATABASE_URL);
    await migrateSchema(pool, config.DATABASE_SCHEMA, logger);
  } finally {
    await pool.end();
  }
} catch (error) {
  exitOnStartupError(logger, error);
}
