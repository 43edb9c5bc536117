//! minewatch-rules
