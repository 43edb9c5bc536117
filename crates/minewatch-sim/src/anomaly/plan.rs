//! What every planner shares: the [`Planner`] trait the dispatch in `anomaly` calls, what a
//! planner sees of a mine ([`Ctx`]), what it returns ([`Planned`]), and helpers for the anomalies
//! that take people. Nothing here knows any particular kind; no planner is imported here.

use crate::clock::MIN_MS;
use crate::effect::Effect;
use crate::modes::Modes;
use crate::people::{Crew, Tags};
use crate::rng::Rng;
use crate::values::{Points, Readings};
use minewatch_core::payload::System;
use minewatch_core::registry::AreaKind;
use minewatch_core::{Kind, MineDef, SubjectType};

/// A tag taken for an anomaly stays down at least this long after it ends, back at its work.
const STAY_AFTER_MS: i64 = 2 * MIN_MS;

/// One alert kind's planner: how an injection of that kind checks or picks its subject and turns
/// into [`Effect`]s, when another kind's effects necessarily raise it too, and hooks the models
/// call to apply what only this kind's effects do (each a no-op by default). Implemented by the
/// unit struct `ThisKind` of each `anomaly/<kind>.rs`; `anomaly` dispatches to them statically.
pub(crate) trait Planner {
    /// The kind it injects (the alert it raises).
    const KIND: Kind;
    /// Its place in `Anomaly::NAMES`: the order names are listed in and the automatic schedule
    /// takes them in.
    const ORDER: usize;
    /// What a named subject is.
    const SUBJECT: SubjectType;
    /// Whether the automatic schedule injects it (not when it needs days of learning or a
    /// suspension order first).
    const AUTOMATIC: bool = true;
    /// A boolean field every personnel tag carries (false in clean data), which this kind sets.
    const TAG_FLAG: Option<&'static str> = None;
    /// How long the anomalous data lasts from its start, in milliseconds (nominal where it
    /// depends on the subject).
    const DURATION_MS: i64;
    /// What someone injecting it by hand should know (a precondition, a delay before the rule
    /// can judge it), if anything.
    const NOTE: Option<&'static str> = None;

    /// Checks or picks the subject on the mine of `ctx` (`subject` is the named one, if any) and
    /// turns the anomaly into effects starting at `at`.
    fn plan(ctx: &Ctx<'_>, subject: Option<&str>, at: i64) -> Result<Planned, String>;

    /// The subjects of this kind that `effects`, planned for an injection of another kind,
    /// necessarily raise as well (listed in `Injection::also`).
    fn companions(_ctx: &Ctx<'_>, _effects: &[Effect]) -> Vec<String> {
        Vec::new()
    }

    /// Hook of the safety model, called for each scheduled effect in order, after the clean
    /// values and the driven levels and before statuses are derived: what `effect` changes of the
    /// readings at `t`.
    fn shape_safety(_effect: &Effect, _readings: &mut Readings<'_>, _t: i64) {}

    /// Hook of the safety model, after every effect was shaped at `t`.
    fn after_safety(_effects: &[Effect], _readings: &mut Readings<'_>, _t: i64) {}

    /// Hook of the personnel model, after the moves and flags of `effects`: what they change of
    /// this tick's tags at `t`.
    fn shape_tags(_effects: &[Effect], _tags: &mut Tags<'_>, _t: i64) {}

    /// Hook of the batch assembly (`sim`): whether `effects` keep the batch of `system` from
    /// being sent at `t`.
    fn silences(_effects: &[Effect], _system: System, _t: i64) -> bool {
        false
    }

    /// Hook of the batch assembly: appends readings of `effects` at `t` to the safety batch after
    /// the `written` readings of the mine's points (comma-separated, no brackets); returns how
    /// many it wrote.
    fn push_readings(
        _effects: &[Effect],
        _t: i64,
        _rng: &mut Rng,
        _out: &mut String,
        _written: usize,
    ) -> usize {
        0
    }

    /// Hook of the batch assembly: how far (ms) `effects` set the mine's clock off for the
    /// batches of `system` at `t`.
    fn clock_offset(_effects: &[Effect], _system: System, _t: i64) -> i64 {
        0
    }

    /// Hook of the batch assembly: what `effects` do to the finished `payload` of `system` at `t`.
    fn mangle(_effects: &[Effect], _system: System, _t: i64, _payload: &mut Vec<u8>) {}

    /// Hook of the production model: changes whether production loads may run at `t` and the
    /// production intensity (0 to 1) that scales coal cutting, `now` being the mine's own.
    fn production(_effects: &[Effect], _t: i64, now: (bool, f64)) -> (bool, f64) {
        now
    }
}

/// The alerts (kind name, subject) that effects planned for an injection of the given kind raise
/// besides its own: every other kind's [`Planner::companions`].
pub(crate) type Companions = fn(&Ctx<'_>, Kind, &[Effect]) -> Vec<(&'static str, String)>;

/// What a [`Planner`] sees of a mine.
#[derive(Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub(crate) def: &'a MineDef,
    pub(crate) crew: &'a Crew,
    pub(crate) points: &'a Points,
    pub(crate) modes: &'a Modes,
    /// Effects already scheduled on the mine.
    pub(crate) effects: &'a [Effect],
    /// Anomalies injected on this mine before (rotates the picks of the point kinds listed first).
    pub(crate) nth: usize,
    /// Anomalies of this kind injected on this mine before (rotates the picks of the others, so the
    /// first of each kind gets the preferred subject).
    pub(crate) nth_kind: usize,
    /// What effects would raise besides the kind planned.
    pub(crate) companions: Companions,
    /// The other simulated mines, for anomalies that take data from one.
    pub(crate) others: &'a [Other<'a>],
}

/// Another simulated mine, as a planner sees it.
#[derive(Clone, Copy)]
pub(crate) struct Other<'a> {
    /// Its place among the simulated mines (what an effect names it by).
    pub(crate) index: usize,
    pub(crate) def: &'a MineDef,
    pub(crate) points: &'a Points,
}

/// An anomaly turned into effects.
#[derive(Debug)]
pub(crate) struct Planned {
    /// The subject of the alert it raises.
    pub(crate) subject: String,
    pub(crate) effects: Vec<Effect>,
    /// When the anomalous data ends.
    pub(crate) until: i64,
}

impl Planned {
    /// One effect about `subject`.
    pub(crate) fn one(subject: String, effect: Effect, until: i64) -> Planned {
        Planned {
            subject,
            effects: vec![effect],
            until,
        }
    }
}

/// A named mine subject must be the mine itself.
pub(crate) fn check_mine(def: &MineDef, named: Option<&str>, kind: Kind) -> Result<(), String> {
    match named {
        Some(m) if m != &*def.id => Err(format!(
            "{} is about the mine; {m:?} is not mine {}",
            kind.as_str(),
            def.id
        )),
        _ => Ok(()),
    }
}

/// The `nth` of `candidates` (wrapping), or `None` when there are none.
pub(crate) fn rotate<T: Copy>(candidates: &[T], nth: usize) -> Option<T> {
    (!candidates.is_empty()).then(|| candidates[nth % candidates.len()])
}

/// Whether area `a` is a coal face or a heading.
pub(crate) fn is_face(def: &MineDef, a: usize) -> bool {
    matches!(def.areas[a].kind, AreaKind::CoalFace | AreaKind::Heading)
}

/// Whether area `a` is sealed or restricted.
pub(crate) fn is_closed(def: &MineDef, a: usize) -> bool {
    matches!(def.areas[a].kind, AreaKind::Sealed | AreaKind::Restricted)
}

/// Tags an effect already uses.
pub(crate) fn busy(ctx: &Ctx<'_>, i: usize) -> bool {
    ctx.effects.iter().any(|e| e.tag() == Some(i))
}

/// `n` workers (not leaders, not used by another anomaly) underground at `from`, rotated by
/// `nth_kind`, preferring those still on the same trip at `to`: (tag, down).
pub(crate) fn pick_tags(
    ctx: &Ctx<'_>,
    from: i64,
    to: i64,
    n: usize,
) -> Result<Vec<(usize, i64)>, String> {
    let crew = ctx.crew;
    let mut c: Vec<(bool, usize, i64)> = (0..crew.len())
        .filter(|&i| !crew.is_leader(i) && !busy(ctx, i))
        .filter_map(|i| match crew.state(i, from, ctx.modes, ctx.effects) {
            Some((true, down)) => {
                let same = matches!(crew.state(i, to, ctx.modes, ctx.effects), Some((true, d)) if d == down);
                Some((!same, i, down))
            }
            _ => None,
        })
        .collect();
    if c.len() < n || n == 0 {
        return Err(format!(
            "mine {} has only {} workers underground at that time; {n} are needed",
            ctx.def.id,
            c.len()
        ));
    }
    let k = ctx.nth_kind * n % c.len();
    c.rotate_left(k);
    c.sort_by_key(|x| x.0);
    Ok(c[..n].iter().map(|x| (x.1, x.2)).collect())
}

/// The named tag (underground at `from`), or one picked: (tag, down).
pub(crate) fn one_tag(
    ctx: &Ctx<'_>,
    named: Option<&str>,
    kind: Kind,
    from: i64,
    to: i64,
) -> Result<(usize, i64), String> {
    match named {
        Some(id) => {
            let i = ctx
                .crew
                .index_of(id)
                .ok_or_else(|| format!("mine {} has no tag {id:?}", ctx.def.id))?;
            match ctx.crew.state(i, from, ctx.modes, ctx.effects) {
                Some((true, down)) => Ok((i, down)),
                _ => Err(format!(
                    "{}: tag {id} is not underground at that time",
                    kind.as_str()
                )),
            }
        }
        None => pick_tags(ctx, from, to, 1).map(|v| v[0]),
    }
}

/// Keeps a tag taken for an anomaly down until a little after it ends.
pub(crate) fn stay(tag: usize, down: i64, until: i64) -> Effect {
    Effect::Extend {
        tag,
        down,
        until: until + STAY_AFTER_MS,
    }
}

/// Tags moved into area `id` by `effects`, in order.
pub(crate) fn moved_into<'e>(
    effects: &'e [Effect],
    id: &'e str,
) -> impl Iterator<Item = usize> + 'e {
    effects.iter().filter_map(move |e| match e {
        Effect::Move { tag, area, .. } if &**area == id => Some(*tag),
        _ => None,
    })
}

/// Whether camera `c` failing in `[from, to)` leaves video in its area when that is a face or
/// heading: another camera there, not itself made to fail meanwhile by `effects`.
pub(crate) fn video_survives(
    def: &MineDef,
    effects: &[Effect],
    c: usize,
    from: i64,
    to: i64,
) -> bool {
    let a = def.cameras[c].area;
    let failing = |k: usize| {
        effects.iter().any(|e| {
            let (s, end) = e.span();
            matches!(e, Effect::Camera { camera, state, .. } if *camera == k && *state != "ok")
                && s < to
                && end > from
        })
    };
    !is_face(def, a as usize)
        || def
            .cameras
            .iter()
            .enumerate()
            .any(|(k, o)| k != c && o.area == a && !failing(k))
}

/// Where explosives must not go: the rank of area `a` among such areas (restricted, sealed, then
/// undeclared), or `None` for a declared open area.
pub(crate) fn forbidden_for_explosives(def: &MineDef, a: usize) -> Option<u8> {
    let area = &def.areas[a];
    match area.kind {
        AreaKind::Restricted => Some(0),
        AreaKind::Sealed => Some(1),
        _ if !area.declared => Some(2),
        _ => None,
    }
}
