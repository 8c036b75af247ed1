-- +goose Up
-- Covering indexes for the decky and service filters of attacker listings.
CREATE INDEX attacker_deckies_decky_uuid ON attacker_deckies (decky, service, attacker_uuid);
CREATE INDEX attacker_deckies_service_uuid ON attacker_deckies (service, attacker_uuid);

-- +goose Down
DROP INDEX attacker_deckies_service_uuid;
DROP INDEX attacker_deckies_decky_uuid;
