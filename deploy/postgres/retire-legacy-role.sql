-- Retires the 1.0 pipeline's database role once 1.0 runs nowhere (the runbook's retirement step, after
-- the soak): takes back what roles.sql granted it with -v legacy_role. Idempotent; run as an administrator:
--
--   psql "$ADMIN_DATABASE_URL" -v ON_ERROR_STOP=1 -v schema=public -v legacy_role=athlete \
--        -f deploy/postgres/retire-legacy-role.sql
--
-- From here on an image rollback to 1.0 needs roles.sql with -v legacy_role again first.
-- psql variables: schema (public), normalize_role (athlete_normalize), legacy_role (required).

\if :{?schema}
\else
  \set schema public
\endif
\if :{?normalize_role}
\else
  \set normalize_role athlete_normalize
\endif
\if :{?legacy_role}
\else
  DO $$ BEGIN RAISE EXCEPTION 'retire-legacy-role.sql: set -v legacy_role=<the 1.0 role, e.g. athlete>'; END $$;
\endif

BEGIN;
SELECT format('REVOKE %I FROM %I', :'normalize_role', :'legacy_role')
\gexec
REVOKE CREATE, USAGE ON SCHEMA :"schema" FROM :"legacy_role";
SELECT format('REVOKE ALL ON %I.pgmigrations FROM %I', :'schema', :'legacy_role')
 WHERE to_regclass(format('%I.pgmigrations', :'schema')) IS NOT NULL
\gexec
COMMIT;

-- The check (the runbook's gate): every line false.
SELECT has_table_privilege(:'legacy_role', format('%I.hrv_data', :'schema'), 'INSERT') AS legacy_writes_hrv,
       has_schema_privilege(:'legacy_role', :'schema', 'CREATE') AS legacy_creates,
       pg_has_role(:'legacy_role', :'normalize_role', 'MEMBER') AS legacy_is_normalize;
