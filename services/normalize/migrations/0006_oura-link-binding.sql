-- Up Migration
-- Linking is authenticated (a link token minted by the app's backend) and bound to the
-- browser that started it.

-- A state now carries the SHA-256 (hex) of the random value in the starting browser's
-- __Host- cookie; the callback refuses a browser without it. States in flight when this runs were
-- started without a cookie and could never complete: they are dropped (they live 10 minutes).
DELETE FROM oura_link_states;
ALTER TABLE oura_link_states ADD COLUMN browser_hash text NOT NULL;

-- Link tokens already used (their jti), kept until the token expires: one token starts one link.
CREATE TABLE oura_link_tokens_used (
  token_id   text PRIMARY KEY,
  user_id    text NOT NULL,
  expires_at timestamptz NOT NULL
);
CREATE INDEX oura_link_tokens_used_expires_at_idx ON oura_link_tokens_used (expires_at);

-- Down Migration
DROP TABLE oura_link_tokens_used;
ALTER TABLE oura_link_states DROP COLUMN browser_hash;
