-- Up Migration
-- API keys that authenticate ingest's /ingest/* routes (managed with `aa-ops keys`).
-- The key itself is aak_<key_id>_<secret>; only the SHA-256 of the secret is stored, so a
-- database dump does not hold usable keys. Revoked keys stay for the record.
CREATE TABLE ingest_api_keys (
  key_id        text PRIMARY KEY,
  secret_sha256 bytea NOT NULL,
  name          text NOT NULL,
  -- Who holds the key: a tenant or a service.
  tenant        text NOT NULL,
  -- The only user ids the key may write for; NULL: any user.
  user_ids      text[],
  created_at    timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz,
  revoked_at    timestamptz,
  CONSTRAINT ingest_api_keys_user_ids_not_empty CHECK (user_ids IS NULL OR cardinality(user_ids) > 0)
);

-- Down Migration
DROP TABLE ingest_api_keys;
