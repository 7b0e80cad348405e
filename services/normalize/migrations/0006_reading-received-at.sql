-- Up Migration
-- (Numbered 0006 like 0006_oura-link-binding, after which it sorts: node-pg-migrate orders equal
-- numbers by name, and a later 0007 of another change still runs after this one in every order of merging.)
--
-- Additive only: the previous release's normalize, still running while this applies (and again after a
-- rollback to it), keeps writing with ON CONFLICT (user_id, date) and never names the new column, so
-- UNIQUE (user_id, date) stays and nothing here is NOT NULL without a default.
--
-- received_at: when ingest received the reading that the row holds (the event's receivedAt, set by the
-- server, never by the client). Across sources the later-received reading wins; within a source the newest
-- capturedAt still wins (services/normalize/src/store.ts). A capturedAt from the client can then no longer
-- make another source's later readings stale. NULL for rows the previous release wrote: such a row counts
-- as received at its updated_at.
ALTER TABLE hrv_data ADD COLUMN received_at timestamptz;
ALTER TABLE sleep_data ADD COLUMN received_at timestamptz;

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
DROP TABLE erased_users;

ALTER TABLE sleep_data DROP COLUMN received_at;
ALTER TABLE hrv_data DROP COLUMN received_at;
