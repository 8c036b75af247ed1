-- +goose Up
CREATE TABLE state (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE fleet_deckies (
    host_id     TEXT NOT NULL,
    name        TEXT NOT NULL,
    ip          TEXT NOT NULL,
    driver      TEXT NOT NULL DEFAULT 'native',
    decky       TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'pending',
    last_error  TEXT NOT NULL DEFAULT '',
    generation  INTEGER NOT NULL DEFAULT 0,
    last_seen   TEXT,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (host_id, name)
);
CREATE INDEX fleet_deckies_state ON fleet_deckies (state);

CREATE TABLE logs (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id   TEXT NOT NULL UNIQUE,
    time       TEXT NOT NULL,
    decky      TEXT NOT NULL,
    service    TEXT NOT NULL,
    kind       TEXT NOT NULL,
    src_ip     TEXT NOT NULL,
    src_port   INTEGER NOT NULL DEFAULT 0,
    session    TEXT NOT NULL DEFAULT '',
    fields     TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL
);
CREATE INDEX logs_time ON logs (time);
CREATE INDEX logs_src_ip ON logs (src_ip, time);
CREATE INDEX logs_decky ON logs (decky, time);
CREATE INDEX logs_kind ON logs (kind, time);

CREATE TABLE attackers (
    uuid                TEXT PRIMARY KEY,
    ip                  TEXT NOT NULL UNIQUE,
    first_seen          TEXT NOT NULL,
    last_seen           TEXT NOT NULL,
    deckies             TEXT NOT NULL DEFAULT '[]',
    services            TEXT NOT NULL DEFAULT '[]',
    event_count         INTEGER NOT NULL DEFAULT 0,
    commands            TEXT NOT NULL DEFAULT '[]',
    fingerprints        TEXT NOT NULL DEFAULT '{}',
    fingerprint_history TEXT NOT NULL DEFAULT '{}',
    payload_hashes      TEXT NOT NULL DEFAULT '[]',
    c2_endpoints        TEXT NOT NULL DEFAULT '[]',
    asn                 INTEGER,
    identity_id         TEXT,
    updated_at          TEXT NOT NULL
);
CREATE INDEX attackers_first_seen ON attackers (first_seen);
CREATE INDEX attackers_last_seen ON attackers (last_seen);
CREATE INDEX attackers_identity ON attackers (identity_id);

CREATE TABLE attacker_deckies (
    attacker_uuid TEXT NOT NULL REFERENCES attackers (uuid) ON DELETE CASCADE,
    decky         TEXT NOT NULL,
    service       TEXT NOT NULL,
    PRIMARY KEY (attacker_uuid, decky, service)
);
CREATE INDEX attacker_deckies_decky ON attacker_deckies (decky, service);
CREATE INDEX attacker_deckies_service ON attacker_deckies (service);

CREATE TABLE credentials (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    attacker_ip      TEXT NOT NULL,
    attacker_uuid    TEXT NOT NULL DEFAULT '',
    decky            TEXT NOT NULL,
    service          TEXT NOT NULL,
    principal        TEXT NOT NULL DEFAULT '',
    secret_kind      TEXT NOT NULL DEFAULT 'plaintext',
    secret_sha256    TEXT NOT NULL,
    secret_b64       TEXT NOT NULL DEFAULT '',
    secret_printable TEXT NOT NULL DEFAULT '',
    outcome          TEXT NOT NULL DEFAULT 'failure',
    first_seen       TEXT NOT NULL,
    last_seen        TEXT NOT NULL,
    attempt_count    INTEGER NOT NULL DEFAULT 1,
    UNIQUE (attacker_ip, decky, service, secret_kind, secret_sha256, principal)
);
CREATE INDEX credentials_secret ON credentials (secret_sha256, service);
CREATE INDEX credentials_principal ON credentials (principal, service);

CREATE TABLE users (
    uuid                 TEXT PRIMARY KEY,
    username             TEXT NOT NULL UNIQUE,
    password_hash        TEXT NOT NULL,
    role                 TEXT NOT NULL DEFAULT 'viewer',
    disabled             INTEGER NOT NULL DEFAULT 0,
    must_change_password INTEGER NOT NULL DEFAULT 0,
    tokens_valid_from    TEXT,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL
);

-- +goose Down
DROP TABLE users;
DROP TABLE credentials;
DROP TABLE attacker_deckies;
DROP TABLE attackers;
DROP TABLE logs;
DROP TABLE fleet_deckies;
DROP TABLE state;
