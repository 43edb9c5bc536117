-- minewatch-store schema, version 2: on-call notifications.
-- SQLite's spelling; ../postgres/0002_notify.sql is the same for PostgreSQL.
-- Sink cursors (how far each notification sink has got in the event log) live in engine_state
-- under `notify/cursor/{sink}`, written in the same transaction as the delivery they follow.

-- Operators' silences: notifications of matching alerts are held back from sinks (the alerts are
-- still recorded and shown, marked silenced). kind / subject NULL = any. Ending a silence early
-- moves ends_at to the moment it was ended and records who did (`ended_by`); rows are never
-- deleted, for the audit trail. `set_by` because BY is reserved in SQL.
CREATE TABLE silences (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    mine       TEXT NOT NULL,
    kind       TEXT,
    subject    TEXT,
    starts_at  TEXT NOT NULL,
    ends_at    TEXT NOT NULL,
    reason     TEXT NOT NULL,
    set_by     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    ended_by   TEXT
);
CREATE INDEX silences_ends ON silences (ends_at);
CREATE INDEX silences_mine ON silences (mine, id);

-- The outcome of notifying a sink of one event: `delivered`, or `failed` (given up after retries;
-- kept for operators). Delivered rows are pruned to the newest few thousand.
CREATE TABLE deliveries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    sink             TEXT    NOT NULL,
    seq              INTEGER NOT NULL,
    type             TEXT    NOT NULL,
    mine             TEXT    NOT NULL,
    alert_id         TEXT    NOT NULL,
    state            TEXT    NOT NULL,
    attempts         INTEGER NOT NULL,
    first_attempt_at TEXT    NOT NULL,
    last_attempt_at  TEXT    NOT NULL,
    error            TEXT
);
CREATE INDEX deliveries_state ON deliveries (state, id);
CREATE INDEX deliveries_mine ON deliveries (mine, id);
