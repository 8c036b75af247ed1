-- +goose Up
-- One row per campaign: a group of identities working together. Merges are
-- soft: the losing row stays and merged_into_uuid points at the winner. The
-- list columns and the counts are rollups over the identities of the
-- campaign and of every campaign merged into it; rollup_digest lets the
-- clusterer skip writes when nothing changed.
CREATE TABLE campaigns (
    uuid              TEXT PRIMARY KEY,
    schema_version    INTEGER NOT NULL DEFAULT 1,
    first_seen_at     TEXT NOT NULL,
    last_seen_at      TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    confidence        REAL,
    identity_count    INTEGER NOT NULL DEFAULT 0,
    observation_count INTEGER NOT NULL DEFAULT 0,
    ja3_hashes        TEXT,
    hassh_hashes      TEXT,
    tls_cert_sha256   TEXT,
    payload_simhashes TEXT,
    c2_endpoints      TEXT,
    fingerprints      TEXT,
    asns              TEXT,
    deckies           TEXT,
    merged_into_uuid  TEXT REFERENCES campaigns (uuid),
    rollup_digest     TEXT NOT NULL DEFAULT '',
    notes             TEXT NOT NULL DEFAULT ''
);
CREATE INDEX campaigns_first_seen ON campaigns (first_seen_at);
CREATE INDEX campaigns_last_seen ON campaigns (last_seen_at);
CREATE INDEX campaigns_created ON campaigns (created_at);
CREATE INDEX campaigns_updated ON campaigns (updated_at);
CREATE INDEX campaigns_merged_into ON campaigns (merged_into_uuid);

-- The campaign an identity belonged to before the clusterer moved it.
ALTER TABLE attacker_identities ADD COLUMN prior_campaign_id TEXT;

-- attacker_identities.campaign_id must name an existing campaign. SQLite
-- cannot add a foreign key to an existing table, so triggers enforce it.
-- +goose StatementBegin
CREATE TRIGGER attacker_identities_campaign_fk_insert BEFORE INSERT ON attacker_identities
WHEN NEW.campaign_id IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM campaigns WHERE uuid = NEW.campaign_id)
BEGIN
    SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: attacker_identities.campaign_id');
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER attacker_identities_campaign_fk_update BEFORE UPDATE OF campaign_id ON attacker_identities
WHEN NEW.campaign_id IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM campaigns WHERE uuid = NEW.campaign_id)
BEGIN
    SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: attacker_identities.campaign_id');
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER campaigns_referenced_delete BEFORE DELETE ON campaigns
WHEN EXISTS (SELECT 1 FROM attacker_identities WHERE campaign_id = OLD.uuid)
BEGIN
    SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: attacker_identities.campaign_id');
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER campaigns_referenced_delete;
DROP TRIGGER attacker_identities_campaign_fk_update;
DROP TRIGGER attacker_identities_campaign_fk_insert;
ALTER TABLE attacker_identities DROP COLUMN prior_campaign_id;
DROP TABLE campaigns;
