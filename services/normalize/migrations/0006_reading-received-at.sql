-- Up Migration
-- (Numbered 0006 like 0006_oura-link-binding, after which it sorts: node-pg-migrate orders equal
-- numbers by name, and a later 0007 of another change still runs after this one in every order of merging.)
--
-- One row per (user_id, date, source): a reading replaces only a reading of its own source. With one
-- row per (user_id, date), any credential allowed to write a user could send a capturedAt up to a day
-- ahead and make every later reading of that day, from every other tenant and from Oura, stale:
-- answered 202 and never stored. Now each source keeps its own row for the day, and within a source
-- the newest capturedAt still wins (services/normalize/src/store.ts).
--
-- The new key is added before the old one is dropped: the old one guarantees the data satisfies it.
-- A normalize of the previous release still running when this applies writes with
-- ON CONFLICT (user_id, date), which no longer names a constraint: PostgreSQL refuses the statement,
-- the message is redelivered after a delay (RETRY_BUDGET_MS spreads ten minutes over max_deliver) and
-- the new normalize stores it. Nothing is written wrongly and nothing is lost while the rollout takes
-- less than the retry budget.
ALTER TABLE hrv_data ADD CONSTRAINT hrv_data_user_id_date_source_key UNIQUE (user_id, date, source);
ALTER TABLE hrv_data DROP CONSTRAINT hrv_data_user_id_date_key;

ALTER TABLE sleep_data ADD CONSTRAINT sleep_data_user_id_date_source_key UNIQUE (user_id, date, source);
ALTER TABLE sleep_data DROP CONSTRAINT sleep_data_user_id_date_key;

-- Erased users (`aa-ops users erase`): a reading of a user erased less than expires_at ago is not
-- stored again, so a reading still in a stream when the user was erased cannot bring rows back.
-- Only the SHA-256 (hex) of the user id is kept, and only until expires_at (at least the longest
-- stream retention): then no message that predates the erasure can remain.
CREATE TABLE erased_users (
  user_sha256 text PRIMARY KEY,
  erased_at   timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL
);
CREATE INDEX erased_users_expires_at_idx ON erased_users (expires_at);

-- Down Migration
-- Fails while a user has rows of two sources for one day: keep one per day first.
DROP TABLE erased_users;

ALTER TABLE sleep_data ADD CONSTRAINT sleep_data_user_id_date_key UNIQUE (user_id, date);
ALTER TABLE sleep_data DROP CONSTRAINT sleep_data_user_id_date_source_key;

ALTER TABLE hrv_data ADD CONSTRAINT hrv_data_user_id_date_key UNIQUE (user_id, date);
ALTER TABLE hrv_data DROP CONSTRAINT hrv_data_user_id_date_source_key;
