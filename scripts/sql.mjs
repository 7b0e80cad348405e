// `DATABASE_URL=... npm run --silent sql -- "<SQL>"`: runs one statement and prints its rows as psql
// would (aligned, values as PostgreSQL writes them), for machines without psql: the embedded
// PostgreSQL that `npm start` falls back to ships no client. DATABASE_SCHEMA sets the search_path.
import pg from "pg";

const USAGE = 'usage: DATABASE_URL=postgres://... npm run --silent sql -- "SELECT ..."';

/** The rows as an aligned table with a row count, like psql's default output. */
function table(fields, rows) {
  const cells = rows.map((row) => fields.map((name) => (row[name] === null ? "" : String(row[name]))));
  const widths = fields.map((name, i) => Math.max(name.length, ...cells.map((line) => line[i].length)));
  const line = (values) => ` ${values.map((value, i) => value.padEnd(widths[i])).join(" | ")}`.trimEnd();
  const rule = widths.map((width) => "-".repeat(width + 2)).join("+");
  return [line(fields), rule, ...cells.map(line), `(${rows.length} ${rows.length === 1 ? "row" : "rows"})`].join("\n");
}

async function main() {
  const [sql, ...extra] = process.argv.slice(2);
  const url = process.env.DATABASE_URL;
  if (!sql || extra.length > 0 || !url) {
    console.error(`${USAGE}\n(one statement, quoted as one argument; DATABASE_URL ${url ? "is set" : "is not set"})`);
    return 2;
  }
  const schema = process.env.DATABASE_SCHEMA;
  // Text as the server sends it: a date stays 2026-11-27, not a JavaScript Date at local midnight.
  const types = { getTypeParser: () => (value) => value };
  const searchPath = schema ? { options: `-c search_path=${schema}` } : {};
  const client = new pg.Client({ connectionString: url, types, ...searchPath });
  try {
    await client.connect();
    const result = await client.query(sql);
    console.log(
      result.fields.length > 0
        ? table(
            result.fields.map((f) => f.name),
            result.rows,
          )
        : result.command,
    );
    return 0;
  } catch (error) {
    console.error(`ERROR: ${error.message}`);
    return 1;
  } finally {
    await client.end().catch(() => {});
  }
}

process.exitCode = await main();
