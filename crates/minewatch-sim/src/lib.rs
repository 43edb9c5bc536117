//! minewatch-sim
