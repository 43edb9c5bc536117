-- minewatch-store schema, version 3: nothing applied twice, dead letters summarised.
-- SQLite's spelling; ../postgres/0003_integrity.sql is the same for PostgreSQL.

-- Every message whose effects were stored, by digest (128-bit XXH3 of topic and payload, as 32
-- hex digits), written in the same transaction as those effects. A message the broker delivers
-- again (its PUBACK lost before a crash) is recognised here and acked without being applied
-- twice. Pruned to the newest `engine.dedup_window` rows.
CREATE TABLE applied_messages (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    mine   TEXT NOT NULL,
    digest TEXT NOT NULL
);

-- A dead letter stands for one message, or for every element of one message rejected for one
-- reason: `count` of them, the first few kept in `examples` (JSON: [{"detail","excerpt"}]).
ALTER TABLE dead_letters ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
ALTER TABLE dead_letters ADD COLUMN examples TEXT NOT NULL DEFAULT '[]';
