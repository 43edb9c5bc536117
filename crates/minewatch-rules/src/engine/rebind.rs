//! A registry reload: the new definition replaces the old, the state of what remains (matched by
//! id and type) is kept, and every active alert whose subject left, or is now a different type
//! of thing, is resolved. One mechanism for every kind: the mine's set of active alerts (kept
//! from the changes themselves, see [`MineState::track`]) is judged by each alert's kind
//! ([`KindRule::still_applies`](crate::kinds::KindRule::still_applies)).

use crate::kinds::{MineState, NEVER, Remap, hooks};
use minewatch_core::alert::Change;
use minewatch_core::registry::{Idx, MineDef};
use std::sync::Arc;

/// For each old index, its new one when the id is still defined as the same kind of thing.
fn remap<T>(old: &[T], same: impl Fn(&T) -> Option<Idx>) -> Vec<Option<Idx>> {
    old.iter().map(same).collect()
}

impl MineState {
    /// Replaces the definition (registry reload), keeping the state of what remains and resolving
    /// the alerts of what was removed or re-typed.
    pub fn rebind(&mut self, def: Arc<MineDef>, out: &mut Vec<Change>) {
        let start = out.len();
        let mut old = std::mem::replace(self, MineState::new(def));
        let at = old.clock.unwrap_or(0);
        self.clock = old.clock;
        self.epoch = old.clock;
        self.status_order = old.status_order;
        self.status = old.status_order.unwrap_or(self.def.status);
        self.last_arrival = old.last_arrival;
        self.feed_index = old.feed_index.clone();
        self.extra_areas = std::mem::take(&mut old.extra_areas);
        self.explosives_at = old.explosives_at;
        let new = self.def.clone();
        let od = old.def.clone();
        let points = remap(&od.points, |p| {
            new.point(&p.id)
                .filter(|&n| new.points[n as usize].kind == p.kind)
        });
        let areas = remap(&od.areas, |a| {
            new.area(&a.id)
                .filter(|&n| new.areas[n as usize].kind == a.kind)
        });
        let cameras = remap(&od.cameras, |c| {
            new.camera(&c.id)
                .filter(|&n| new.cameras[n as usize].watches == c.watches)
        });
        let meters = remap(&od.meters, |m| {
            new.meter(&m.id)
                .filter(|&n| new.meters[n as usize].load == m.load)
        });
        let r = Remap {
            old: &od,
            points: &points,
            areas: &areas,
        };
        for (o, n) in points.iter().enumerate() {
            if let Some(n) = n {
                let mut st = old.points[o];
                hooks::rebind_point(&mut st.kinds, &r);
                self.points[*n as usize] = st;
            }
        }
        for (o, n) in areas.iter().enumerate() {
            if let Some(n) = n {
                self.area_state[*n as usize] = old.area_state[o];
            }
        }
        for (o, n) in cameras.iter().enumerate() {
            if let Some(n) = n {
                self.cams[*n as usize] = std::mem::take(&mut old.cams[o]);
            }
        }
        for (o, n) in meters.iter().enumerate() {
            if let Some(n) = n {
                self.meter_state[*n as usize] = std::mem::take(&mut old.meter_state[o]);
            }
        }
        let mut tags = std::mem::take(&mut old.tags);
        for t in tags.values_mut() {
            t.area = t
                .area
                .and_then(|a| areas.get(a as usize).copied().flatten());
            hooks::rebind_tag(&mut t.kinds, &r);
        }
        self.tags = tags;
        self.recount_people();
        hooks::rebind_mine(std::mem::take(&mut old.kinds), &r, self, at, out);
        // What the kinds resolved themselves above is already settled.
        let mut active = std::mem::take(&mut old.active);
        for c in &out[start..] {
            active.remove(&(c.kind, c.subject.clone()));
        }
        let mut active: Vec<_> = active.into_iter().collect();
        active.sort();
        for (kind, subject) in active {
            if hooks::still_applies(kind, &od, self, &subject) {
                self.active.insert((kind, subject));
            } else {
                let why = "was removed from the registry (or is now another type of thing)";
                out.push(self.resolve_orphan(kind, &subject, why, at));
            }
        }
        self.track(&out[start..]);
        self.next_due = self.clock.unwrap_or(NEVER);
    }
}
