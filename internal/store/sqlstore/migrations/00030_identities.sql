-- +goose Up
-- One row per attacker identity: a group of observations (attackers rows)
-- from the same operator. Merges are soft: the losing row stays and
-- merged_into_uuid points at the winner. The JSON list columns and the
-- counts are rollups over the observations of the identity and of every
-- identity merged into it; rollup_digest lets the clusterer skip writes
-- when nothing changed.
CREATE TABLE attacker_identities (
    uuid                 TEXT PRIMARY KEY,
    schema_version       INTEGER NOT NULL DEFAULT 1,
    campaign_id          TEXT,
    first_seen_at        TEXT NOT NULL,
    last_seen_at         TEXT NOT NULL,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL,
    confidence           REAL,
    observation_count    INTEGER NOT NULL DEFAULT 0,
    ja3_hashes           TEXT,
    hassh_hashes         TEXT,
    ja4h_hashes          TEXT,
    ja4_quic_hashes      TEXT,
    http_versions_seen   TEXT,
    tls_cert_sha256      TEXT,
    ipv6_link_local_iids TEXT,
    payload_simhashes    TEXT,
    c2_endpoints         TEXT,
    fingerprints         TEXT,
    asns                 TEXT,
    kd_digraph_simhash   BLOB,
    merged_into_uuid     TEXT REFERENCES attacker_identities (uuid),
    rollup_digest        TEXT NOT NULL DEFAULT '',
    notes                TEXT NOT NULL DEFAULT ''
);
-- Indexes serve the listings (newest update first), merge trees and
-- campaign membership. Every index costs each clusterer write a B-tree
-- insert, so columns nothing filters or sorts on are not indexed.
CREATE INDEX attacker_identities_campaign ON attacker_identities (campaign_id);
CREATE INDEX attacker_identities_updated ON attacker_identities (merged_into_uuid, updated_at);
CREATE INDEX attacker_identities_merged_into ON attacker_identities (merged_into_uuid);

-- The clusterer reads attackers rows changed since its last tick.
CREATE INDEX attackers_updated_at ON attackers (updated_at);

-- attackers.identity_id must name an existing identity. SQLite cannot add
-- a foreign key to an existing table, so triggers enforce it.
-- +goose StatementBegin
CREATE TRIGGER attackers_identity_fk_insert BEFORE INSERT ON attackers
WHEN NEW.identity_id IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM attacker_identities WHERE uuid = NEW.identity_id)
BEGIN
    SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: attackers.identity_id');
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER attackers_identity_fk_update BEFORE UPDATE OF identity_id ON attackers
WHEN NEW.identity_id IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM attacker_identities WHERE uuid = NEW.identity_id)
BEGIN
    SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: attackers.identity_id');
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER attacker_identities_referenced_delete BEFORE DELETE ON attacker_identities
WHEN EXISTS (SELECT 1 FROM attackers WHERE identity_id = OLD.uuid)
BEGIN
    SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: attackers.identity_id');
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER attacker_identities_referenced_delete;
DROP TRIGGER attackers_identity_fk_update;
DROP TRIGGER attackers_identity_fk_insert;
DROP INDEX attackers_updated_at;
DROP TABLE attacker_identities;
