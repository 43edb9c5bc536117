//! `no_video_work`: two workers go into a face or heading with no working camera for 8 minutes (5
//! needed): an area without cameras when the registry has one (nothing else raised), else one
//! whose cameras all report `signal_loss` (which also raises a camera fault on each). The subject
//! is the coal face or heading. Any other injection that moves people into a face or heading
//! without cameras raises this kind on it too.

use super::pick::{Of, named_or_picked};
use super::plan::{Ctx, Planned, Planner, is_face, pick_tags, stay};
use crate::clock::MIN_MS;
use crate::effect::Effect;
use minewatch_core::{Kind, SubjectType};

/// How long people work without video (5 minutes needed).
const NO_VIDEO_MS: i64 = 8 * MIN_MS;
/// People working without video.
const PEOPLE: usize = 2;

/// The planner of [`Kind::NoVideoWork`].
pub(crate) struct ThisKind;

impl Planner for ThisKind {
    const KIND: Kind = Kind::NoVideoWork;
    const ORDER: usize = 17;
    const SUBJECT: SubjectType = SubjectType::Area;
    const DURATION_MS: i64 = NO_VIDEO_MS;

    fn plan(ctx: &Ctx<'_>, named: Option<&str>, at: i64) -> Result<Planned, String> {
        let def = ctx.def;
        let cameras = |a: usize| -> Vec<usize> {
            (0..def.cameras.len())
                .filter(|&c| def.cameras[c].area as usize == a)
                .collect()
        };
        let (per_area, _) = ctx.crew.census(at, ctx.modes, ctx.effects, def.areas.len());
        let room = |a: usize| {
            def.areas[a]
                .quota
                .is_none_or(|q| per_area[a] + PEOPLE as u32 <= q)
        };
        // An area without cameras raises nothing else; declared areas before undeclared.
        let a = named_or_picked(
            def,
            Of::Area,
            named,
            Self::KIND,
            &format!("a coal face or heading with room for {PEOPLE} more people"),
            ctx.nth_kind,
            |a| {
                (is_face(def, a) && room(a))
                    .then(|| (!cameras(a).is_empty(), !def.areas[a].declared))
            },
        )?;
        let until = at + NO_VIDEO_MS;
        let area = &def.areas[a];
        let mut effects = Vec::new();
        for (i, down) in pick_tags(ctx, at, until, PEOPLE)? {
            effects.push(Effect::Move {
                tag: i,
                area: area.id.clone(),
                start: at,
                end: until,
            });
            effects.push(stay(i, down, until));
        }
        for c in cameras(a) {
            effects.push(Effect::Camera {
                camera: c,
                state: "signal_loss",
                event: None,
                start: at,
                end: until,
            });
        }
        Ok(Planned {
            subject: area.id.to_string(),
            effects,
            until,
        })
    }

    /// A face or heading without cameras that another injection moves people into.
    fn companions(ctx: &Ctx<'_>, effects: &[Effect]) -> Vec<String> {
        let def = ctx.def;
        let mut out: Vec<String> = Vec::new();
        for e in effects {
            let Effect::Move { area: id, .. } = e else {
                continue;
            };
            let Some(a) = Of::Area.find(def, id) else {
                continue;
            };
            let blind = is_face(def, a) && !def.cameras.iter().any(|c| c.area as usize == a);
            if blind && !out.iter().any(|o| **o == **id) {
                out.push(id.to_string());
            }
        }
        out
    }
}
