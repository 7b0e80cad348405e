-- Up Migration
-- snake_case columns, as hrv_data. duration_minutes is double precision, the JSON number
-- itself: 437.5 minutes is stored as 437.5, never rounded to an integer.
CREATE TABLE sleep_data (
  id               bigserial PRIMARY KEY,
  user_id          text NOT NULL,
  date             date NOT NULL,
  duration_minutes double precision NOT NULL CHECK (duration_minutes >= 0 AND duration_minutes <= 1440),
  quality_score    double precision CHECK (quality_score >= 0 AND quality_score <= 100),
  captured_at      timestamptz NOT NULL,
  event_id         text NOT NULL,
  raw              jsonb,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT sleep_data_user_id_date_key UNIQUE (user_id, date),
  CONSTRAINT sleep_data_event_id_key UNIQUE (event_id)
);
CREATE INDEX sleep_data_created_at_idx ON sleep_data (created_at);

-- Down Migration
DROP TABLE sleep_data;
