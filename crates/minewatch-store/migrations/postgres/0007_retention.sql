-- minewatch-store schema, version 7: [store] retention finds the closed alerts that resolved
-- before a cutoff, oldest first, batch by batch; without this index each batch scans and sorts
-- every closed alert. And GET /api/alerts?subject= finds a subject's alerts without scanning
-- the table in start order.
CREATE INDEX alerts_closed_resolved ON alerts (alarm, resolved_at);
CREATE INDEX alerts_subject_started ON alerts (subject, started_at);
