//! The mine registry (contract §2): one TOML file per mine, parsed strictly (unknown keys are
//! errors), validated (duplicate ids, dangling references, impossible limits) with every error naming
//! its file and line, then compiled into a [`MineDef`] whose points, areas, cameras and meters are
//! addressed by index so the rules engine never hashes a string twice for one reading.
//!
//! Submodules, in the order a file passes through them:
//! - `schema`: the file as written, the serde structure both readers fill.
//! - `fast`: a reader for the registry's usual shape, falling back to the `toml` crate for
//!   anything else (and for every error).
//! - `compile`: from the file as written to a [`MineDef`] (ids, references, limits, reverse
//!   indices); [`MineDef::load`] and [`MineDef::parse`] start here.
//! - `model`: the vocabulary ([`PointKind`], [`Location`], [`Limits`]…) and the compiled
//!   [`MineDef`].
//! - `load`: the registry directory ([`Registry`]), loaded in parallel and reloaded in place.

mod compile;
mod fast;
mod load;
mod model;
mod schema;

pub use load::{LoadReport, Registry};
pub use model::{
    Area, AreaKind, Camera, Idx, Limits, Load, Location, Meter, MineDef, MineStatus, Point,
    PointKind, UtcOffset, Watches,
};

#[cfg(test)]
mod tests;
