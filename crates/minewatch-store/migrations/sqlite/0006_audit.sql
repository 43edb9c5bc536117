-- minewatch-store schema, version 6: the audit trail of operator actions (GET /api/audit).
-- SQLite's spelling; ../postgres/0006_audit.sql is the same for PostgreSQL.
-- One row per action that succeeded: an ack, a shelving or unshelving, a silence set or ended, a
-- status order, a registry reload. `token` is who was authenticated (the token's name, or
-- `anonymous` when no tokens are configured); `by_text` is the free-text `by` the operator typed
-- (`by` is reserved in SQL); `source` is the client's IP address as the server saw it. Rows are
-- never pruned or changed. Read newest first by id.
CREATE TABLE audit (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    token   TEXT NOT NULL,
    source  TEXT NOT NULL,
    by_text TEXT NOT NULL,
    detail  TEXT NOT NULL
);
CREATE INDEX audit_at ON audit (at, id);
