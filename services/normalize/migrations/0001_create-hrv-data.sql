-- Up Migration
-- snake_case columns: the runbook's SQL (user_id, ln_rmssd, created_at) runs as written.
CREATE TABLE hrv_data (
  id          bigserial PRIMARY KEY,
  user_id     text NOT NULL,
  date        date NOT NULL,
  rmssd       double precision NOT NULL CHECK (rmssd > 0 AND rmssd <= 1000),
  ln_rmssd    double precision NOT NULL,
  captured_at timestamptz NOT NULL,
  event_id    text NOT NULL,
  raw         jsonb,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT hrv_data_user_id_date_key UNIQUE (user_id, date),
  CONSTRAINT hrv_data_event_id_key UNIQUE (event_id)
);
CREATE INDEX hrv_data_created_at_idx ON hrv_data (created_at);

-- Down Migration
DROP TABLE hrv_data;
