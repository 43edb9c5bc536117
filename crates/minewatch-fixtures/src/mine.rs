//! Test mines, as registry TOML files.

/// The small test mine `M1`: a coal face (`A1`) with an intake sensor `P0` and a face sensor `P1`
/// (fed by `F1` and `F2`, upwind `P0`), a return (`A2`) with `P2` (fed by `F1`, upwind `P1`), a
/// camera `C1` on the face and a face meter `MF1`.
pub const MINE: &str = r#"
id = "M1"
name = "Test Colliery"
status = "producing"
max_underground = 50

[[area]]
id = "A1"
name = "1201 coal face"
kind = "coal_face"
quota = 10

[[area]]
id = "A2"
name = "1201 return"
kind = "return_airway"

[[point]]
id = "P0"
area = "A1"
kind = "ch4"
location = "intake"

[[point]]
id = "P1"
area = "A1"
kind = "ch4"
location = "coal_face"
feeds = ["F1", "F2"]
upwind = "P0"

[[point]]
id = "P2"
area = "A2"
kind = "ch4"
location = "coal_face_return"
feeds = ["F1"]
upwind = "P1"

[[point]]
id = "F1"
area = "A1"
kind = "feed"

[[point]]
id = "F2"
area = "A1"
kind = "feed"

[[camera]]
id = "C1"
area = "A1"
watches = "face"

[[meter]]
id = "MF1"
area = "A1"
load = "face"
idle_kw = 5.0
"#;

/// [`MINE`] under another id.
pub fn mine_as(id: &str) -> String {
    MINE.replacen("id = \"M1\"", &format!("id = \"{id}\""), 1)
}

/// A mine with one coal face and one methane point `P1` on it (class defaults: alarm 1.0 %,
/// restore 1.0 %, power-off 1.5 %), named after its id.
pub fn one_point_mine(id: &str) -> String {
    format!(
        r#"id = "{id}"
name = "{id}"
status = "producing"
max_underground = 50

[[area]]
id = "A1"
name = "coal face"
kind = "coal_face"
quota = 10

[[point]]
id = "P1"
area = "A1"
kind = "ch4"
location = "coal_face"
"#
    )
}

/// A registered mine with nothing defined in it.
pub fn empty_mine(id: &str) -> String {
    format!("id = \"{id}\"\nname = \"{id}\"\nstatus = \"producing\"\nmax_underground = 10\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use minewatch_core::registry::MineDef;
    use std::path::Path;

    fn parse(src: &str) -> MineDef {
        MineDef::parse(Path::new("m.toml"), src).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn every_test_mine_is_a_valid_registry_file() {
        let m = parse(MINE);
        assert_eq!((m.points.len(), m.cameras.len(), m.meters.len()), (5, 1, 1));
        assert_eq!(&*parse(&mine_as("M2")).id, "M2");
        let one = parse(&one_point_mine("M7"));
        assert_eq!((&*one.id, one.points.len()), ("M7", 1));
        let empty = parse(&empty_mine("M9"));
        assert!(empty.points.is_empty() && empty.areas.is_empty());
    }
}
