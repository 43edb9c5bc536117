//! Registries at scale, for benchmarks and the load tool: `mines` mines of `points` points each,
//! written as registry TOML (contract §2) with realistic point groups.
//!
//! A mine has four main areas (wellhead, surface, main intake, main return), then one group of
//! three areas (working place, its return, its intake) and 20 points per 20 points asked for. Two
//! groups in three are longwall panels, the third a development heading. A group has a methane
//! chain (intake → face → upper corner / shearer → return, with `upwind` links and `feeds`), CO,
//! O2, temperature, air speed, dust, CO2, smoke and pressure sensors and three feed switches, one
//! camera and one meter at the working place; a hoist and a fan meter complete the mine.
//!
//! Point ids are `P{group:02}{k:02}` and `F{group:02}{k:02}`; `P0101` is the coal-face methane
//! sensor of the first longwall (alarm 1.0 %, power-off 1.5 %), which the load tool drives over
//! its limit.

use std::fmt::Write as _;

/// Points in one group.
pub const GROUP_POINTS: usize = 20;

/// The id of scale mine `n` (0-based): `1402` and `n + 1` on five digits, e.g. `140200001`.
pub fn mine_id(n: usize) -> String {
    format!("1402{:05}", n + 1)
}

/// The registry of `mines` mines with `points` points each, as (file name, TOML) pairs in mine
/// order. `points` must be a positive multiple of [`GROUP_POINTS`].
pub fn registry(mines: usize, points: usize) -> Result<Vec<(String, String)>, String> {
    if mines == 0 {
        return Err("the number of mines must be at least 1".into());
    }
    if points == 0 || !points.is_multiple_of(GROUP_POINTS) {
        return Err(format!(
            "points per mine must be a positive multiple of {GROUP_POINTS} (one group of \
             {GROUP_POINTS} points per working place), not {points}"
        ));
    }
    Ok((0..mines)
        .map(|n| {
            (
                format!("{}.toml", mine_id(n)),
                mine_toml(n, points / GROUP_POINTS),
            )
        })
        .collect())
}

fn area(s: &mut String, id: &str, name: &str, kind: &str, quota: u32) {
    let _ = writeln!(
        s,
        "[[area]]\nid = \"{id}\"\nname = \"{name}\"\nkind = \"{kind}\"\nquota = {quota}\n"
    );
}

fn point(
    s: &mut String,
    id: &str,
    area: &str,
    kind: &str,
    location: Option<&str>,
    feeds: &[&str],
    upwind: Option<&str>,
) {
    let _ = writeln!(
        s,
        "[[point]]\nid = \"{id}\"\narea = \"{area}\"\nkind = \"{kind}\""
    );
    if let Some(l) = location {
        let _ = writeln!(s, "location = \"{l}\"");
    }
    if !feeds.is_empty() {
        let list: Vec<String> = feeds.iter().map(|f| format!("\"{f}\"")).collect();
        let _ = writeln!(s, "feeds = [{}]", list.join(", "));
    }
    if let Some(u) = upwind {
        let _ = writeln!(s, "upwind = \"{u}\"");
    }
    s.push('\n');
}

/// Registry TOML of scale mine `n` (id [`mine_id`]) with `groups` point groups of 20 points.
pub fn mine_toml(n: usize, groups: usize) -> String {
    let mut s = String::with_capacity(160 * groups * GROUP_POINTS + 1024);
    let _ = writeln!(
        s,
        "id = \"{}\"\nname = \"Bench Colliery {n}\"\nstatus = \"producing\"\n\
         max_underground = 900\nsuspended_crew = 20\nshift_hours = 8\n",
        mine_id(n)
    );
    area(&mut s, "A0001", "Shaft wellhead", "wellhead", 40);
    area(&mut s, "A0002", "Surface site", "surface", 300);
    area(&mut s, "A1001", "Main intake", "intake_airway", 40);
    area(&mut s, "A1002", "Main return", "main_return", 6);
    for g in 1..=groups {
        // Two longwall panels for every development heading.
        let longwall = g % 3 != 0;
        let (face, ret, intake) = (
            format!("A{g:02}1"),
            format!("A{g:02}2"),
            format!("A{g:02}3"),
        );
        let (face_kind, quota) = if longwall {
            ("coal_face", 25)
        } else {
            ("heading", 12)
        };
        area(
            &mut s,
            &face,
            &format!("{g:02} working place"),
            face_kind,
            quota,
        );
        area(&mut s, &ret, &format!("{g:02} return"), "return_airway", 8);
        area(
            &mut s,
            &intake,
            &format!("{g:02} intake"),
            "intake_airway",
            15,
        );
        let p = |k: u32| format!("P{g:02}{k:02}");
        let f = |k: u32| format!("F{g:02}{k:02}");
        let all_feeds = [f(50), f(51), f(52)];
        let all: Vec<&str> = all_feeds.iter().map(String::as_str).collect();
        let face_feeds = &all[..2];
        let (l1, l2, l3, lr) = if longwall {
            ("coal_face", "upper_corner", "shearer", "coal_face_return")
        } else {
            ("heading", "heading", "heading", "heading_return")
        };
        point(&mut s, &p(0), &intake, "ch4", Some("intake"), &all, None);
        point(
            &mut s,
            &p(1),
            &face,
            "ch4",
            Some(l1),
            face_feeds,
            Some(&p(0)),
        );
        point(
            &mut s,
            &p(2),
            &face,
            "ch4",
            Some(l2),
            face_feeds,
            Some(&p(1)),
        );
        point(&mut s, &p(3), &face, "ch4", Some(l3), face_feeds, None);
        point(
            &mut s,
            &p(4),
            &ret,
            "ch4",
            Some(lr),
            face_feeds,
            Some(&p(1)),
        );
        point(
            &mut s,
            &p(5),
            &ret,
            "ch4",
            Some(lr),
            face_feeds,
            Some(&p(4)),
        );
        for (k, a, kind) in [
            (10, &face, "co"),
            (11, &ret, "co"),
            (12, &intake, "o2"),
            (13, &face, "temperature"),
            (14, &ret, "temperature"),
            (15, &face, "air_speed"),
            (16, &ret, "air_speed"),
            (17, &face, "dust"),
            (18, &intake, "co2"),
            (19, &intake, "smoke"),
            (20, &ret, "pressure"),
        ] {
            point(&mut s, &p(k), a, kind, None, &[], None);
        }
        for (k, a) in [(50, &face), (51, &ret), (52, &intake)] {
            point(&mut s, &f(k), a, "feed", None, &[], None);
        }
        let watches = if longwall { "face" } else { "heading" };
        let _ = writeln!(
            s,
            "[[camera]]\nid = \"C{g:02}\"\narea = \"{face}\"\nwatches = \"{watches}\"\n\n\
             [[meter]]\nid = \"M{g:02}\"\narea = \"{face}\"\nload = \"face\"\nidle_kw = 5.0\n"
        );
    }
    s.push_str(
        "[[meter]]\nid = \"M90\"\narea = \"A0001\"\nload = \"hoist\"\nidle_kw = 20.0\n\n\
         [[meter]]\nid = \"M91\"\narea = \"A1002\"\nload = \"ventilation\"\nidle_kw = 50.0\n",
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use minewatch_core::MineDef;
    use std::path::Path;

    #[test]
    fn a_scale_registry_compiles_with_the_points_asked_for() {
        let files = registry(3, 60).expect("valid sizes");
        assert_eq!(files.len(), 3);
        for (n, (name, text)) in files.iter().enumerate() {
            let def = MineDef::parse(Path::new(name), text).expect("compiles");
            assert_eq!(&*def.id, mine_id(n));
            assert_eq!(def.points.len(), 60);
        }
    }

    #[test]
    fn points_that_are_not_whole_groups_are_refused() {
        assert!(registry(1, 30).is_err());
        assert!(registry(1, 0).is_err());
        assert!(registry(0, 20).is_err());
    }
}
