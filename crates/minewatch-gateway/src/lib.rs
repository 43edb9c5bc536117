//! minewatch-gateway
