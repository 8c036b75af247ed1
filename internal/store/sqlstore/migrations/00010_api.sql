-- +goose Up
-- Access tokens revoked before they expire (logout). Rows past expires_at
-- can be deleted because the token signature check rejects them anyway.
CREATE TABLE revoked_tokens (
    jti        TEXT PRIMARY KEY,
    user_uuid  TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked_at TEXT NOT NULL
);
CREATE INDEX revoked_tokens_expires ON revoked_tokens (expires_at);

-- SIEM egress targets created through the API. Targets from the YAML file
-- are not stored here.
CREATE TABLE webhook_targets (
    name       TEXT PRIMARY KEY,
    config     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Events a target failed to take after every retry.
CREATE TABLE webhook_dead_letters (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    target     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    stream_seq INTEGER NOT NULL DEFAULT 0,
    payload    TEXT NOT NULL,
    attempts   INTEGER NOT NULL,
    last_error TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
CREATE INDEX webhook_dead_letters_target ON webhook_dead_letters (target, id);

-- The attacker listing orders by last_seen DESC, uuid. Scanned backwards
-- this index yields exactly that order, so a page needs no sort and the
-- rows skipped by OFFSET are never read from the table.
CREATE INDEX attackers_last_seen_uuid ON attackers (last_seen, uuid DESC);

-- +goose Down
DROP INDEX attackers_last_seen_uuid;
DROP TABLE webhook_dead_letters;
DROP TABLE webhook_targets;
DROP TABLE revoked_tokens;
