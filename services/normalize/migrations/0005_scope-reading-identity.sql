-- Up Migration
-- A reading's identity is its kind (the table), source, user and the client's event_id: the same
-- event_id from another tenant or user is another reading, so the global UNIQUE (event_id) goes.
-- Rows from before this migration (and from a normalize of the previous release still running
-- during a rolling upgrade, which does not write the column) get source 'unscoped', which the
-- replay guard matches with any source (services/normalize/src/store.ts).
-- The scoped constraint is added before the old one is dropped: the old one guarantees the data
-- already satisfies it. Building its index locks writes to the table for the duration; normalize
-- retries the blocked writes (statement timeout → transient), nothing is lost.
ALTER TABLE hrv_data ADD COLUMN source text NOT NULL DEFAULT 'unscoped';
ALTER TABLE hrv_data ADD CONSTRAINT hrv_data_user_id_source_event_id_key UNIQUE (user_id, source, event_id);
ALTER TABLE hrv_data DROP CONSTRAINT hrv_data_event_id_key;

ALTER TABLE sleep_data ADD COLUMN source text NOT NULL DEFAULT 'unscoped';
ALTER TABLE sleep_data ADD CONSTRAINT sleep_data_user_id_source_event_id_key UNIQUE (user_id, source, event_id);
ALTER TABLE sleep_data DROP CONSTRAINT sleep_data_event_id_key;

-- Down Migration
-- Fails while two readings share an event_id (allowed since the Up migration): resolve those rows first.
ALTER TABLE sleep_data ADD CONSTRAINT sleep_data_event_id_key UNIQUE (event_id);
ALTER TABLE sleep_data DROP CONSTRAINT sleep_data_user_id_source_event_id_key;
ALTER TABLE sleep_data DROP COLUMN source;

ALTER TABLE hrv_data ADD CONSTRAINT hrv_data_event_id_key UNIQUE (event_id);
ALTER TABLE hrv_data DROP CONSTRAINT hrv_data_user_id_source_event_id_key;
ALTER TABLE hrv_data DROP COLUMN source;
