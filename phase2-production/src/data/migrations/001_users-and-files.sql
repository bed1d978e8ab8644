-- Phase 2's durable data: users and their files (docs/concepts.md, "Sessions and data live
-- apart"). Sessions, the jwt deny-list and the rate-limit counters stay in Redis: they expire,
-- and losing them costs a login; losing a row here would cost an account or a file.

-- Up Migration

CREATE TABLE users (
  -- Immutable and random, made at registration: sessions and tokens name the user by it.
  user_id text PRIMARY KEY,
  username text NOT NULL UNIQUE,
  password_hash text NOT NULL,
  created_at timestamptz NOT NULL
);

CREATE TABLE files (
  user_id text NOT NULL,
  -- The HMAC of the upload's Idempotency-Key (or a random id without one): one key, one file, so
  -- this primary key is the unique (user, idempotency key) that makes a replay find the first upload.
  file_id text NOT NULL,
  filename text NOT NULL,
  size integer NOT NULL CHECK (size >= 0),
  -- The lab's files are small (1 MiB at most): in a row they share the row's transaction. Large
  -- files belong in object storage, with only their address here.
  content bytea NOT NULL,
  created_at timestamptz NOT NULL,
  PRIMARY KEY (user_id, file_id)
);

-- Down Migration

DROP TABLE files;
DROP TABLE users;
