//! minewatch-store
