//! minewatch-ingest
