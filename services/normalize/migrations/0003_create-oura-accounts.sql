-- Up Migration
-- Oura account linking (normalize serves /auth/oura/*). Both tables hold secrets only
-- encrypted (AES-256-GCM, OURA_TOKEN_ENCRYPTION_KEY): version | iv | tag | ciphertext,
-- authenticated with the row's user_id.

-- One row per authorization in flight: single-use (deleted when the callback consumes it),
-- valid until expires_at. The state itself is not stored, only its SHA-256 (hex).
CREATE TABLE oura_link_states (
  state_hash    text PRIMARY KEY,
  user_id       text NOT NULL,
  code_verifier bytea NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL
);
CREATE INDEX oura_link_states_expires_at_idx ON oura_link_states (expires_at);

-- One linked Oura account per user; an Oura account belongs to one user at a time.
CREATE TABLE oura_accounts (
  user_id       text PRIMARY KEY,
  oura_user_id  text NOT NULL,
  access_token  bytea NOT NULL,
  refresh_token bytea NOT NULL,
  expires_at    timestamptz NOT NULL,
  scope         text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT oura_accounts_oura_user_id_key UNIQUE (oura_user_id)
);

-- Down Migration
DROP TABLE oura_accounts;
DROP TABLE oura_link_states;
