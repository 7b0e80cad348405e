-- Least-privilege PostgreSQL roles of the pipeline (docs/security.md). Idempotent: run it as an
-- administrator (a superuser, or a CREATEROLE role that owns the database) before the first
-- migration, and again after every migration that adds a table (grants are per table):
--
--   psql "$ADMIN_DATABASE_URL" -v ON_ERROR_STOP=1 -v schema=public -f deploy/postgres/roles.sql
--
-- psql variables (-v name=value) and their defaults:
--   schema          public             DATABASE_SCHEMA of the services
--   owner_role      athlete_owner      owns the schema and every table: `npm run db:migrate` (DDL)
--   normalize_role  athlete_normalize  normalize-service, with RUN_MIGRATIONS=false
--   ingest_role     athlete_ingest     ingest-service: reads the API keys
--   ops_role        athlete_ops        aa-ops verify, soak-check and keys
--   legacy_role     (unset)            the running 1.0 pipeline's role (`athlete`), during a migration only:
--                                      keeps what 1.0 needs (below) until deploy/postgres/retire-legacy-role.sql
--
-- The roles are created with LOGIN and no password: set one with psql's `\password <role>`
-- (sent as a SCRAM verifier, never in clear) or from your secret manager.

\if :{?schema}
\else
  \set schema public
\endif
\if :{?owner_role}
\else
  \set owner_role athlete_owner
\endif
\if :{?normalize_role}
\else
  \set normalize_role athlete_normalize
\endif
\if :{?ingest_role}
\else
  \set ingest_role athlete_ingest
\endif
\if :{?ops_role}
\else
  \set ops_role athlete_ops
\endif

-- One transaction: the revoke-then-grant below never leaves a service without its rights.
BEGIN;

SELECT format('CREATE ROLE %I LOGIN', role)
  FROM unnest(ARRAY[:'owner_role', :'normalize_role', :'ingest_role', :'ops_role']) AS role
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = role)
\gexec

GRANT CONNECT ON DATABASE :"DBNAME" TO :"owner_role", :"normalize_role", :"ingest_role", :"ops_role";

-- The owner role owns the schema, so only it can create, alter or drop objects there.
SELECT format('CREATE SCHEMA %I AUTHORIZATION %I', :'schema', :'owner_role')
 WHERE NOT EXISTS (SELECT FROM pg_namespace WHERE nspname = :'schema')
\gexec
ALTER SCHEMA :"schema" OWNER TO :"owner_role";
REVOKE CREATE ON SCHEMA :"schema" FROM PUBLIC;
GRANT USAGE ON SCHEMA :"schema" TO :"normalize_role", :"ingest_role", :"ops_role";

-- Tables created before this role model (e.g. by RUN_MIGRATIONS=true as another role) move to the owner.
SELECT format('ALTER TABLE %I.%I OWNER TO %I', :'schema', name, :'owner_role')
  FROM unnest(ARRAY['pgmigrations', 'hrv_data', 'sleep_data', 'oura_link_states', 'oura_accounts', 'ingest_api_keys', 'oura_link_tokens_used', 'oura_link_pending', 'erased_users']) AS name
 WHERE to_regclass(format('%I.%I', :'schema', name)) IS NOT NULL
\gexec

-- Exactly these table rights, on the tables that exist so far: what the code runs, nothing more.
--   normalize: upserts readings (INSERT … ON CONFLICT DO UPDATE … RETURNING), links Oura accounts
--     (a link state is deleted when used or expired, a spent link token once expired), reads pgmigrations at startup.
--   ingest: loads the API keys.
--   normalize also reads erased_users: a reading of an erased user is not stored again while its tombstone lives.
--   ops: reads readings (verify, soak-check); creates and revokes API keys (no DELETE: revoked keys stay).
--     `users erase` deletes a user's rows in every user table (the DELETE on hrv_data and sleep_data also lets
--     it LOCK them against concurrent writes), reads a linked account's sealed access token to revoke it at Oura
--     (never the refresh token nor a link's PKCE verifier), and records, extends and expires tombstones in erased_users.
--     It may set revoked_at and nothing else of an existing key: a key's secret hash, user scope,
--     expiry, name and tenant cannot be rewritten. REVOKE ALL above also drops column rights, so a
--     re-run replaces an older table-wide UPDATE with this one.
SELECT format('REVOKE ALL ON %I.%I FROM %I, %I, %I', :'schema', name, :'normalize_role', :'ingest_role', :'ops_role')
  FROM unnest(ARRAY['pgmigrations', 'hrv_data', 'sleep_data', 'oura_link_states', 'oura_accounts', 'ingest_api_keys', 'oura_link_tokens_used', 'oura_link_pending', 'erased_users']) AS name
 WHERE to_regclass(format('%I.%I', :'schema', name)) IS NOT NULL
\gexec
SELECT format('GRANT %s ON %I.%I TO %I', rights, :'schema', name, role)
  FROM (VALUES
    (:'normalize_role', 'pgmigrations',     'SELECT'),
    (:'normalize_role', 'hrv_data',         'SELECT, INSERT, UPDATE'),
    (:'normalize_role', 'sleep_data',       'SELECT, INSERT, UPDATE'),
    (:'normalize_role', 'oura_link_states', 'SELECT, INSERT, DELETE'),
    (:'normalize_role', 'oura_accounts',    'SELECT, INSERT, UPDATE'),
    (:'normalize_role', 'oura_link_tokens_used', 'SELECT, INSERT, DELETE'),
    (:'normalize_role', 'erased_users',     'SELECT'),
    (:'normalize_role', 'oura_link_pending', 'SELECT, INSERT, DELETE'),
    (:'ingest_role',    'ingest_api_keys',  'SELECT'),
    (:'ops_role',       'hrv_data',         'SELECT, DELETE'),
    (:'ops_role',       'sleep_data',       'SELECT, DELETE'),
    (:'ops_role',       'oura_accounts',    'SELECT (user_id, oura_user_id, access_token), DELETE'),
    (:'ops_role',       'oura_link_states', 'SELECT (user_id), DELETE'),
    (:'ops_role',       'oura_link_tokens_used', 'SELECT (user_id), DELETE'),
    (:'ops_role',       'oura_link_pending', 'SELECT (user_id), DELETE'),
    (:'ops_role',       'erased_users',     'SELECT, INSERT, UPDATE, DELETE'),
    (:'ops_role',       'ingest_api_keys',  'SELECT, INSERT, UPDATE (revoked_at)')
  ) AS grants (role, name, rights)
 WHERE to_regclass(format('%I.%I', :'schema', name)) IS NOT NULL
\gexec

-- The id columns' sequences (bigserial): nextval for normalize's inserts.
SELECT format('GRANT USAGE ON SEQUENCE %s TO %I', pg_get_serial_sequence(format('%I.%I', :'schema', name), 'id'), :'normalize_role')
  FROM unnest(ARRAY['hrv_data', 'sleep_data']) AS name
 WHERE to_regclass(format('%I.%I', :'schema', name)) IS NOT NULL
\gexec

-- The 1.0 pipeline still running during a migration (legacy_role, e.g. -v legacy_role=athlete). It owned
-- the tables moved above; without these grants its normalize gets `permission denied` from this moment
-- and a restarted 1.0 pod crash-loops on its startup migrations. Until the runbook's retirement step
-- (retire-legacy-role.sql) it gets:
--   - normalize's table rights, as a member of normalize_role (new tables' grants follow);
--   - CREATE on the schema: 1.0's startup migration refuses to run without it (it checks before
--     node-pg-migrate, which then finds nothing to apply: 1.0's migrations are a prefix of ours);
--   - REFERENCES on pgmigrations beside SELECT: information_schema lists a table's primary key only to
--     a role with a right other than SELECT, and node-pg-migrate adds a primary key it cannot see.
\if :{?legacy_role}
SELECT format('GRANT %I TO %I', :'normalize_role', :'legacy_role')
\gexec
GRANT USAGE, CREATE ON SCHEMA :"schema" TO :"legacy_role";
SELECT format('GRANT SELECT, REFERENCES ON %I.pgmigrations TO %I', :'schema', :'legacy_role')
 WHERE to_regclass(format('%I.pgmigrations', :'schema')) IS NOT NULL
\gexec
\endif

COMMIT;
