-- minewatch-store schema, version 1.
-- SQLite's spelling; ../postgres/0001_init.sql is the same schema for PostgreSQL, and the two
-- must stay in step (same tables, columns, indexes and version numbers).
-- INTEGER / TEXT columns only, timestamps as RFC 3339 UTC text with nanoseconds (fixed width, so
-- text order is time order), JSON as TEXT. The SQLite-ism is AUTOINCREMENT, which PostgreSQL
-- spells as an identity column.

-- One row per alert: the alert as of its latest event (`last_seq`), as JSON, plus the columns
-- that queries filter and sort on.
CREATE TABLE alerts (
    id          TEXT    NOT NULL PRIMARY KEY,
    key         TEXT    NOT NULL,
    mine        TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    severity    TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    subject     TEXT    NOT NULL,
    area        TEXT,
    started_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL,
    resolved_at TEXT,
    json        TEXT    NOT NULL,
    last_seq    INTEGER NOT NULL
);
CREATE INDEX alerts_state ON alerts (state);
CREATE INDEX alerts_mine_started ON alerts (mine, started_at);
CREATE INDEX alerts_key ON alerts (key);
CREATE INDEX alerts_started ON alerts (started_at, id);

-- The event log: seq is global and gap-free, assigned by the alert writer. `json` is the alert
-- as it stood after the event.
CREATE TABLE events (
    seq      INTEGER NOT NULL PRIMARY KEY,
    alert_id TEXT    NOT NULL REFERENCES alerts (id),
    type     TEXT    NOT NULL,
    at       TEXT    NOT NULL,
    json     TEXT    NOT NULL
);
CREATE INDEX events_alert ON events (alert_id, seq);

-- Rejected input kept for operators (contract §1), oldest pruned.
CREATE TABLE dead_letters (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at TEXT NOT NULL,
    topic       TEXT NOT NULL,
    mine        TEXT,
    system      TEXT,
    reason      TEXT NOT NULL,
    detail      TEXT NOT NULL,
    excerpt     TEXT NOT NULL
);
CREATE INDEX dead_letters_mine ON dead_letters (mine, id);

-- A regulator's current order per mine, outranking the registry file (contract §5).
-- `set_by` because BY is reserved in SQL.
CREATE TABLE mine_status (
    mine   TEXT NOT NULL PRIMARY KEY,
    status TEXT NOT NULL,
    set_by TEXT NOT NULL,
    at     TEXT NOT NULL,
    note   TEXT NOT NULL
);

-- Every order ever given, and every lifting of one (status NULL), for the audit trail.
CREATE TABLE status_history (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    mine   TEXT NOT NULL,
    status TEXT,
    set_by TEXT NOT NULL,
    at     TEXT NOT NULL,
    note   TEXT NOT NULL
);
CREATE INDEX status_history_mine ON status_history (mine, id);

-- Engine snapshots (e.g. per-mine clocks), keyed by the engine.
CREATE TABLE engine_state (
    key        TEXT NOT NULL PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
