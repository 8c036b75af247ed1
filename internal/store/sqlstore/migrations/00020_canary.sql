-- +goose Up
-- Files operators uploaded to build canary tokens from. The bytes live in
-- the blob store on disk, keyed by sha256; the first upload of given bytes
-- keeps its row, later uploads of the same bytes return it.
CREATE TABLE canary_blobs (
    uuid         TEXT PRIMARY KEY,
    sha256       TEXT NOT NULL UNIQUE,
    filename     TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size_bytes   INTEGER NOT NULL,
    uploaded_by  TEXT NOT NULL,
    uploaded_at  TEXT NOT NULL
);
CREATE INDEX canary_blobs_uploaded_at ON canary_blobs (uploaded_at);
CREATE INDEX canary_blobs_uploaded_by ON canary_blobs (uploaded_by);

-- One decoy file planted in one decky. callback_token is the slug in its
-- lowercase canonical form; http_base, dns_zone and persona are the values
-- the artifact was built with, so that regenerating it gives the planted
-- bytes (content_sha256) even after the configuration changed. baseline
-- marks tokens planted automatically on deploy; at most one exists per
-- decky and generator.
CREATE TABLE canary_tokens (
    uuid              TEXT PRIMARY KEY,
    kind              TEXT NOT NULL,
    decky_name        TEXT NOT NULL,
    topology_id       TEXT,
    blob_uuid         TEXT REFERENCES canary_blobs (uuid),
    instrumenter      TEXT,
    generator         TEXT,
    placement_path    TEXT NOT NULL,
    callback_token    TEXT NOT NULL UNIQUE,
    secret_seed       TEXT NOT NULL,
    http_base         TEXT NOT NULL,
    dns_zone          TEXT NOT NULL DEFAULT '',
    persona           TEXT NOT NULL DEFAULT 'linux',
    file_mode         INTEGER NOT NULL DEFAULT 420,
    content_sha256    TEXT NOT NULL DEFAULT '',
    created_at        TEXT NOT NULL,
    placed_at         TEXT,
    last_triggered_at TEXT,
    trigger_count     INTEGER NOT NULL DEFAULT 0,
    hit_count         INTEGER NOT NULL DEFAULT 0,
    created_by        TEXT NOT NULL,
    state             TEXT NOT NULL,
    last_error        TEXT,
    baseline          INTEGER NOT NULL DEFAULT 0,
    fingerprint_nonce TEXT
);
CREATE INDEX canary_tokens_kind ON canary_tokens (kind);
CREATE INDEX canary_tokens_decky ON canary_tokens (decky_name, state);
CREATE INDEX canary_tokens_topology ON canary_tokens (topology_id);
CREATE INDEX canary_tokens_blob ON canary_tokens (blob_uuid);
CREATE INDEX canary_tokens_state ON canary_tokens (state);
CREATE INDEX canary_tokens_created_at ON canary_tokens (created_at);
CREATE INDEX canary_tokens_last_triggered ON canary_tokens (last_triggered_at);
CREATE UNIQUE INDEX canary_tokens_baseline ON canary_tokens (decky_name, generator) WHERE baseline = 1;

-- One callback. A burst of hits with the same dedupe_key inside the
-- recorder's window (resolver retries, A and AAAA for one name) is one row
-- whose hit_count grows; a later repeat is a new row with echo = 1 and
-- echo_of naming the first trigger of that key. src_ip is the address the
-- callback is attributed to: the socket peer, or for HTTP behind a trusted
-- proxy the first untrusted X-Forwarded-For hop. peer_addr is always the
-- socket address and forwarded_for the header as received (evidence only).
-- Rows are keyed by an integer id so that inserts append to the table;
-- uuid (random, version 4) is what the API shows and carries no index,
-- because every write path that needs a row finds it by dedupe key.
CREATE TABLE canary_triggers (
    id            INTEGER PRIMARY KEY,
    uuid          TEXT NOT NULL,
    token_uuid    TEXT NOT NULL REFERENCES canary_tokens (uuid),
    occurred_at   TEXT NOT NULL,
    last_hit_at   TEXT NOT NULL,
    protocol      TEXT NOT NULL,
    src_ip        TEXT NOT NULL,
    peer_addr     TEXT NOT NULL,
    forwarded_for TEXT NOT NULL DEFAULT '[]',
    method        TEXT,
    user_agent    TEXT,
    request_path  TEXT,
    request_query TEXT,
    raw_headers   TEXT NOT NULL DEFAULT '{}',
    dns_qname     TEXT,
    dns_qtype     INTEGER,
    dns_qclass    INTEGER,
    dns_transport TEXT,
    resolver_addr TEXT,
    dedupe_key    TEXT NOT NULL,
    hit_count     INTEGER NOT NULL DEFAULT 1,
    echo          INTEGER NOT NULL DEFAULT 0,
    echo_of       TEXT,
    attacker_id   TEXT
);
CREATE INDEX canary_triggers_token_ts ON canary_triggers (token_uuid, occurred_at);
CREATE INDEX canary_triggers_attacker ON canary_triggers (attacker_id);
CREATE INDEX canary_triggers_dedupe ON canary_triggers (dedupe_key, occurred_at);

-- +goose Down
DROP TABLE canary_triggers;
DROP TABLE canary_tokens;
DROP TABLE canary_blobs;
