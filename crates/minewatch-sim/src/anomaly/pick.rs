//! The one subject picker every planner uses: a subject named by the user is looked up and
//! checked, one left unnamed is picked deterministically among those that fit, in a preferred
//! order, rotated so that repeated injections take different subjects.

use super::plan::rotate;
use minewatch_core::registry::Location;
use minewatch_core::{Kind, MineDef};

/// Which of a mine's registered things a subject is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Of {
    Point,
    Area,
    Camera,
    Meter,
}

impl Of {
    /// The word for one of them, in messages.
    fn noun(self) -> &'static str {
        match self {
            Of::Point => "point",
            Of::Area => "area",
            Of::Camera => "camera",
            Of::Meter => "meter",
        }
    }

    /// How many the mine has.
    fn len(self, def: &MineDef) -> usize {
        match self {
            Of::Point => def.points.len(),
            Of::Area => def.areas.len(),
            Of::Camera => def.cameras.len(),
            Of::Meter => def.meters.len(),
        }
    }

    /// The index of the one with id `id`.
    pub(crate) fn find(self, def: &MineDef, id: &str) -> Option<usize> {
        match self {
            Of::Point => def.point(id),
            Of::Area => def.area(id),
            Of::Camera => def.camera(id),
            Of::Meter => def.meter(id),
        }
        .map(|i| i as usize)
    }

    /// The index of the one with id `id`, or why there is none.
    pub(crate) fn named(self, def: &MineDef, id: &str) -> Result<usize, String> {
        self.find(def, id)
            .ok_or_else(|| format!("mine {} has no {} {id:?}", def.id, self.noun()))
    }
}

/// The `nth` (wrapping) of the subjects `rank` accepts, ordered by rank and then registry order;
/// `None` when it accepts none.
pub(crate) fn pick<R: Ord>(
    def: &MineDef,
    of: Of,
    nth: usize,
    rank: impl Fn(usize) -> Option<R>,
) -> Option<usize> {
    let mut c: Vec<(R, usize)> = (0..of.len(def))
        .filter_map(|i| rank(i).map(|r| (r, i)))
        .collect();
    c.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    let order: Vec<usize> = c.into_iter().map(|x| x.1).collect();
    rotate(&order, nth)
}

/// The subject named `named`, which `rank` must accept, or else the one [`pick`] takes; `what`
/// describes what `kind` needs, for the messages.
pub(crate) fn named_or_picked<R: Ord>(
    def: &MineDef,
    of: Of,
    named: Option<&str>,
    kind: Kind,
    what: &str,
    nth: usize,
    rank: impl Fn(usize) -> Option<R>,
) -> Result<usize, String> {
    let kind = kind.as_str();
    match named {
        Some(id) => {
            let i = of.named(def, id)?;
            if rank(i).is_some() {
                Ok(i)
            } else {
                Err(format!(
                    "{kind} needs {what}; {id} of mine {} is not one",
                    def.id
                ))
            }
        }
        None => pick(def, of, nth, rank)
            .ok_or_else(|| format!("{kind} needs {what}; mine {} has none", def.id)),
    }
}

/// The rank of point `i` among candidates: the T1/T0 locations a regulator watches first (coal
/// face, heading, upper corner), then the others.
pub(crate) fn watched_first(def: &MineDef, i: usize) -> u8 {
    match def.points[i].location {
        Some(Location::CoalFace | Location::Heading | Location::UpperCorner) => 0,
        _ => 1,
    }
}

/// Point `i` ranked by [`watched_first`] when `ok`, for [`pick`].
pub(crate) fn point_if(def: &MineDef, i: usize, ok: bool) -> Option<u8> {
    ok.then(|| watched_first(def, i))
}
