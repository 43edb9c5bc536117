-- minewatch-store schema, version 4: alarm management (ISA-18.2 states).
-- SQLite's spelling; ../postgres/0004_alarms.sql is the same for PostgreSQL.

-- The alert's ISA-18.2 state (active_unacked, active_acked, cleared_unacked, closed), a column so
-- that the default alert list (active, and cleared waiting for an ack) is one indexed filter.
-- Alerts stored before this version: active ones by their ack, resolved ones closed.
ALTER TABLE alerts ADD COLUMN alarm TEXT NOT NULL DEFAULT 'closed';
UPDATE alerts SET alarm = CASE
    WHEN state <> 'active' THEN 'closed'
    WHEN json LIKE '%"ack":null%' THEN 'active_unacked'
    ELSE 'active_acked' END;
CREATE INDEX alerts_alarm ON alerts (alarm);
