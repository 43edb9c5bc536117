//! minewatch
