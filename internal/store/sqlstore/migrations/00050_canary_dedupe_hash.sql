-- +goose Up
-- The recorder finds the newest trigger of each dedupe key in every batch.
-- Keys run to a hundred bytes and land at random places in the index, so
-- indexing them cost each new trigger row a large B-tree insert. An
-- 8-byte hash of the key keeps the index small. Readers compare the full
-- dedupe_key, so a hash collision costs a row read, never a wrong match.
-- Migration 00051, in Go, fills the column for existing rows.
ALTER TABLE canary_triggers ADD COLUMN dedupe_hash INTEGER;
CREATE INDEX canary_triggers_dedupe_hash ON canary_triggers (dedupe_hash, occurred_at);
DROP INDEX canary_triggers_dedupe;

-- +goose Down
CREATE INDEX canary_triggers_dedupe ON canary_triggers (dedupe_key, occurred_at);
DROP INDEX canary_triggers_dedupe_hash;
ALTER TABLE canary_triggers DROP COLUMN dedupe_hash;
