import { createPostgresPool, withoutPassword, type PostgresTlsEnv } from "@aa/service-kit";
import type pg from "pg";

/** Where `hrv_data` is: the connection string and, when given, the schema put on the search_path. */
export interface DatabaseTarget {
  url: string;
  schema: string | undefined;
  /** PGSSLMODE / PGSSLROOTCERT, as the services read them. */
  tls: PostgresTlsEnv;
}

/**
 * A pool of at most two connections, with the services' TLS settings; the schema, when set, is the
 * search_path as normalize sets it.
 */
export function openDatabase(target: DatabaseTarget): pg.Pool {
  // A command's query reports its own failure; an idle connection's has nobody to tell.
  return createPostgresPool({
    url: target.url,
    tls: target.tls,
    schema: target.schema,
    max: 2,
    onIdleError: () => undefined,
  });
}

/** The URL without its password, for headers and reasons. */
export function describeDatabase(target: DatabaseTarget): string {
  const shown = withoutPassword(target.url);
  return target.schema === undefined ? shown : `${shown} (schema ${target.schema})`;
}
