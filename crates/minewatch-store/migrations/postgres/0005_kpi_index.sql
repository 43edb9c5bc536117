-- minewatch-store schema, version 5: the alarm KPIs (GET /api/kpis) read raises and acks of a
-- time window; without this index every request scans the whole event log.
CREATE INDEX events_type_at ON events (type, at);
