-- Up Migration
-- A link completes only when the app confirms it. The browser that comes back from Oura's consent page
-- may belong to someone other than the user the link token names (the token's holder can send its
-- /auth/oura/link URL to anyone), so the callback no longer stores the account: it holds the exchanged
-- tokens here and sends the browser to the app (OURA_LINK_RETURN_URL); the app's backend confirms
-- with a link token for its own signed-in user, and the account is stored only when that user is the
-- one the link was started for.

-- One row per link waiting for the app's confirmation: single-use (deleted when confirmed or refused),
-- valid until expires_at. The completion code is not stored, only its SHA-256 (hex). Tokens sealed
-- (AES-256-GCM, OURA_TOKEN_ENCRYPTION_KEY) with the row's user_id authenticated, as in oura_accounts.
CREATE TABLE oura_link_pending (
  completion_hash  text PRIMARY KEY,
  user_id          text NOT NULL,
  oura_user_id     text NOT NULL,
  access_token     bytea NOT NULL,
  refresh_token    bytea NOT NULL,
  token_expires_at timestamptz NOT NULL,
  scope            text,
  expires_at       timestamptz NOT NULL
);
CREATE INDEX oura_link_pending_expires_at_idx ON oura_link_pending (expires_at);

-- Down Migration
DROP TABLE oura_link_pending;
