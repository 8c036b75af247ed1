-- +goose Up
-- attacker_identities_updated (merged_into_uuid, updated_at) already
-- serves every lookup by merged_into_uuid, so the single-column index only
-- cost each new or merged identity one more B-tree insert.
DROP INDEX attacker_identities_merged_into;

-- +goose Down
CREATE INDEX attacker_identities_merged_into ON attacker_identities (merged_into_uuid);
