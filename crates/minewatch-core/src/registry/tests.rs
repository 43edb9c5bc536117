//! The registry's tests: both readers, compile errors with their lines, reloads, properties.

use super::compile::compile;
use super::fast;
use super::load::same_def;
use super::*;
use crate::config::ConfigError;
use proptest::prelude::*;
use std::path::{Path, PathBuf};

const GOOD: &str = r#"
id = "M1"
name = "Test"
status = "producing"
max_underground = 100

[[area]]
id = "A1"
name = "face"
kind = "coal_face"
quota = 10

[[point]]
id = "P1"
area = "A1"
kind = "ch4"
location = "coal_face"
feeds = ["F1"]
upwind = "P0"

[[point]]
id = "P0"
area = "A1"
kind = "ch4"
location = "intake"

[[point]]
id = "F1"
area = "A1"
kind = "feed"
"#;

fn parse(src: &str) -> Result<MineDef, ConfigError> {
    MineDef::parse(Path::new("m.toml"), src)
}

#[test]
fn a_good_mine_compiles_with_class_defaults_and_reverse_indices() {
    let m = parse(GOOD).expect("valid");
    let p1 = m.point("P1").expect("P1");
    let l = m.points[p1 as usize].limits;
    assert_eq!(
        (l.alarm, l.power_off, l.restore),
        (Some(1.0), Some(1.5), Some(1.0))
    );
    let f1 = m.point("F1").expect("F1");
    assert_eq!(m.feed_dependents[f1 as usize], vec![p1]);
    let p0 = m.point("P0").expect("P0");
    assert_eq!(m.downwind[p0 as usize], vec![p1]);
    assert_eq!(m.points[p0 as usize].limits.alarm, Some(0.5));
}

#[test]
fn an_unknown_key_is_refused_with_its_line() {
    let src = GOOD.replace("quota = 10", "quota = 10\ncolour = \"red\"");
    let e = parse(&src).expect_err("unknown key");
    assert_eq!(e.line, Some(12), "{e}");
    assert!(e.message.contains("colour"), "{e}");
}

#[test]
fn a_dangling_feed_names_its_line() {
    let src = GOOD.replace("feeds = [\"F1\"]", "feeds = [\"F9\"]");
    let e = parse(&src).expect_err("dangling feed");
    assert_eq!(e.line, Some(18), "{e}");
    assert!(e.message.contains("F9"), "{e}");
}

#[test]
fn duplicate_ids_and_missing_areas_are_refused() {
    let dup = GOOD.replace("id = \"P0\"", "id = \"P1\"");
    assert!(
        parse(&dup)
            .expect_err("dup")
            .message
            .contains("duplicate point id")
    );
    let bad_area = GOOD.replace(
        "area = \"A1\"\nkind = \"feed\"",
        "area = \"A7\"\nkind = \"feed\"",
    );
    let e = parse(&bad_area).expect_err("area");
    assert!(e.message.contains("A7"), "{e}");
}

#[test]
fn a_feed_that_is_not_a_feed_point_is_refused() {
    let src = GOOD.replace("feeds = [\"F1\"]", "feeds = [\"P0\"]");
    assert!(
        parse(&src)
            .expect_err("kind")
            .message
            .contains("not of kind feed")
    );
}

#[test]
fn overrides_replace_class_defaults_and_impossible_limits_are_refused() {
    let src = GOOD.replace(
        "location = \"coal_face\"",
        "location = \"coal_face\"\nalarm = 0.8",
    );
    let m = parse(&src).expect("valid");
    let l = m.points[m.point("P1").expect("P1") as usize].limits;
    assert_eq!(
        (l.alarm, l.power_off, l.restore),
        (Some(0.8), Some(1.5), Some(0.8))
    );
    let bad = GOOD.replace(
        "location = \"coal_face\"",
        "location = \"coal_face\"\nrestore = 1.2",
    );
    assert!(
        parse(&bad)
            .expect_err("restore")
            .message
            .contains("restore")
    );
}

#[test]
fn a_reload_keeps_the_old_definition_of_a_file_that_turned_bad() {
    let dir = tempfile_dir("reload");
    let file = dir.join("m1.toml");
    std::fs::write(&file, GOOD).expect("write");
    let (mut reg, report) = Registry::load_dir(&dir);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.changed.len(), 1);
    std::fs::write(
        &file,
        GOOD.replace("max_underground = 100", "max_underground = \"lots\""),
    )
    .expect("write");
    let report = reg.reload(&dir);
    assert_eq!(report.errors.len(), 1);
    assert_eq!(report.errors[0].line, Some(5), "{}", report.errors[0]);
    assert!(report.changed.is_empty());
    assert_eq!(reg.mines.get("M1").map(|m| m.max_underground), Some(100));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The fast path reads `src` (it does not give up) into the same definition as the `toml`
/// crate does.
fn same_through_both_paths(src: &str) {
    let path = Path::new("m.toml");
    let fast = fast::parse(src).unwrap_or_else(|| panic!("the fast path gave up on:\n{src}"));
    let general = MineDef::parse_toml(path, src).unwrap_or_else(|e| panic!("{e}"));
    let (a, b) = (
        compile(path, src, fast).unwrap_or_else(|e| panic!("{e}")),
        compile(path, src, general).unwrap_or_else(|e| panic!("{e}")),
    );
    assert!(same_def(&a, &b), "{a:?}\n!=\n{b:?}");
}

#[test]
fn the_fast_path_reads_what_toml_reads_the_same_way() {
    same_through_both_paths(GOOD);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/registry");
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{e}")) {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        same_through_both_paths(&std::fs::read_to_string(&path).unwrap_or_default());
    }
    // Comments, CRLF, blanks, literal strings, integers for floats, explicit defaults.
    let variant = GOOD
        .replace(
            "kind = \"coal_face\"",
            "kind = 'coal_face'   # a literal string",
        )
        .replace(
            "location = \"intake\"",
            "location=\"intake\"\nalarm = 1\npower_off = 1.5e0",
        )
        .replace(
            "quota = 10",
            "quota = 10\ndeclared = false\n\t# indented comment",
        )
        .replace("feeds = [\"F1\"]", "feeds = [ 'F1' , ]")
        .replace(
            "max_underground = 100",
            "max_underground = 100\nshift_hours = 12\nutc_offset = '+05:30'",
        )
        .replace('\n', "\r\n");
    same_through_both_paths(&variant);
}

#[test]
fn a_mine_keeps_its_utc_offset_and_a_bad_one_names_its_line() {
    let def = parse(GOOD).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        def.utc_offset.to_string(),
        "+08:00",
        "Chinese mines by default"
    );
    let west = GOOD.replace(
        "max_underground = 100",
        "max_underground = 100\nutc_offset = \"-03:30\"",
    );
    same_through_both_paths(&west);
    let def = parse(&west).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(def.utc_offset.minutes(), -210);
    assert_eq!(def.utc_offset.to_string(), "-03:30");
    for bad in [
        "\"8\"",
        "\"+8:00\"",
        "\"+08:60\"",
        "\"+15:00\"",
        "\"UTC\"",
        "8",
    ] {
        let src = GOOD.replace(
            "max_underground = 100",
            &format!("max_underground = 100\nutc_offset = {bad}"),
        );
        let e = parse(&src).expect_err(bad);
        assert_eq!(
            e.line,
            Some(line_containing(&src, "utc_offset")),
            "{bad}: {e}"
        );
        assert!(e.to_string().contains("m.toml"), "{e}");
        if bad.starts_with('"') {
            assert!(e.message.contains("utc_offset"), "{bad}: {e}");
        }
    }
}

#[test]
fn what_the_fast_path_leaves_is_still_read_and_errors_keep_their_line() {
    // An escape and a multi-line array: the toml crate reads them.
    let odd = GOOD
        .replace("name = \"Test\"", "name = \"Te\\u0073t\"")
        .replace("feeds = [\"F1\"]", "feeds = [\n  \"F1\",\n]");
    assert!(fast::parse(&odd).is_none());
    let m = parse(&odd).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(m.name, "Test");
    assert_eq!(m.points[0].feeds, vec![2]);
    // A semantic error found after the fast path still names its line.
    let dangling = GOOD.replace("upwind = \"P0\"", "upwind = \"P9\"");
    assert!(fast::parse(&dangling).is_some());
    let e = parse(&dangling).expect_err("dangling upwind");
    assert_eq!(e.line, Some(line_containing(&dangling, "upwind")), "{e}");
}

#[test]
fn a_registry_file_that_is_not_utf8_is_refused_with_file_offset_and_line() {
    let dir = tempfile_dir("latin1");
    let file = dir.join("m1.toml");
    // The name "Töst" saved in Latin-1 (ö is the one byte 0xf6), on line 3.
    let text = GOOD.replacen("name = \"Test\"", "name = \"T\u{f6}st\"", 1);
    let bytes = text.replace('\u{f6}', "\u{1}").into_bytes();
    let at = bytes.iter().position(|&b| b == 1).expect("the marker");
    let mut bytes = bytes;
    bytes[at] = 0xf6;
    std::fs::write(&file, &bytes).expect("write");
    let e = Registry::load_strict(&dir).expect_err("Latin-1 text");
    assert_eq!(e.path, file);
    assert_eq!(e.line, Some(3), "{e}");
    assert!(e.message.contains(&format!("offset {at} ")), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mw-reg-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

/// Both paths over `src`: when the fast path reads it, the `toml` crate reads it too, into
/// the same definition or the same error.
fn both_paths_agree(src: &str) -> Result<(), TestCaseError> {
    let path = Path::new("m.toml");
    let Some(fast) = fast::parse(src) else {
        return Ok(());
    };
    let general = MineDef::parse_toml(path, src).map_err(|e| {
        TestCaseError::fail(format!("the fast path read what toml refuses: {e}\n{src}"))
    })?;
    match (compile(path, src, fast), compile(path, src, general)) {
        (Ok(a), Ok(b)) => prop_assert!(same_def(&a, &b), "{a:?}\n!=\n{b:?}"),
        (Err(a), Err(b)) => prop_assert_eq!(a, b),
        (a, b) => prop_assert!(false, "fast {a:?}\ngeneral {b:?}\n{src}"),
    }
    Ok(())
}

/// One edit of a file's text.
#[derive(Debug, Clone)]
enum Edit {
    /// Remove up to `n` bytes at a position.
    Delete(usize, usize),
    /// Insert text at a position.
    Insert(usize, String),
    /// Write a line again after itself.
    Repeat(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let text = prop_oneof![
        "[ -~]{0,8}",
        "\\PC{0,3}",
        Just("\n".to_owned()),
        Just("\"".to_owned()),
        Just("'".to_owned()),
        Just("\\".to_owned()),
        Just("[[point]]\n".to_owned()),
        Just("# c".to_owned()),
        Just(" = ".to_owned()),
        Just("\r\n".to_owned()),
        Just("99999999999999999999".to_owned()),
        Just("1e999".to_owned()),
        Just("-1".to_owned()),
    ];
    prop_oneof![
        (any::<usize>(), 1usize..12).prop_map(|(at, n)| Edit::Delete(at, n)),
        (any::<usize>(), text).prop_map(|(at, t)| Edit::Insert(at, t)),
        any::<usize>().prop_map(Edit::Repeat),
    ]
}

/// The char boundary at or before `at % (len + 1)`.
fn boundary(s: &str, at: usize) -> usize {
    let mut at = at % (s.len() + 1);
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn apply(mut s: String, edits: &[Edit]) -> String {
    for e in edits {
        match e {
            Edit::Delete(at, n) => {
                let from = boundary(&s, *at);
                let to = boundary(&s, from + n).max(from);
                s.replace_range(from..to, "");
            }
            Edit::Insert(at, text) => {
                let at = boundary(&s, *at);
                s.insert_str(at, text);
            }
            Edit::Repeat(at) => {
                let lines: Vec<&str> = s.split_inclusive('\n').collect();
                let i = at % lines.len().max(1);
                let mut out = String::with_capacity(s.len() * 2);
                for (j, l) in lines.iter().enumerate() {
                    out.push_str(l);
                    if j == i {
                        out.push_str(l);
                    }
                }
                s = out;
            }
        }
    }
    s
}

/// A parse that did not panic; an error must name the file and a line.
fn no_panic_and_placed(result: Result<MineDef, ConfigError>) -> Result<(), TestCaseError> {
    if let Err(e) = result {
        prop_assert!(e.path == Path::new("m.toml") && e.line.is_some(), "{e}");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_give_a_mine_or_an_error_with_its_line(
        bytes in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        let path = Path::new("m.toml");
        match crate::config::decode_text(path, bytes.clone()) {
            Ok(text) => {
                no_panic_and_placed(parse(&text))?;
                both_paths_agree(&text)?;
            }
            Err(e) => {
                let bad = std::str::from_utf8(&bytes).err().map(|e| e.valid_up_to());
                prop_assert!(bad.is_some_and(|at| e.message.contains(&format!("offset {at} "))), "{e}");
                prop_assert!(e.line.is_some(), "{e}");
            }
        }
    }

    #[test]
    fn a_valid_file_with_bytes_replaced_names_the_first_invalid_one(
        at in any::<usize>(),
        byte in 0x80u8..=0xff,
    ) {
        let mut bytes = GOOD.as_bytes().to_vec();
        let at = at % bytes.len();
        bytes[at] = byte;
        let e = crate::config::decode_text(Path::new("m.toml"), bytes)
            .expect_err("a lone byte above 0x7f in ASCII text is not UTF-8");
        let line = GOOD[..at].matches('\n').count() + 1;
        prop_assert_eq!(e.line, Some(line), "{}", e);
        prop_assert!(e.message.contains(&format!("offset {at} ")), "{}", e);
    }

    #[test]
    fn an_edited_file_parses_or_names_its_line_and_both_paths_agree(
        edits in proptest::collection::vec(edit(), 1..4),
    ) {
        let src = apply(GOOD.to_owned(), &edits);
        no_panic_and_placed(parse(&src))?;
        both_paths_agree(&src)?;
    }

    #[test]
    fn any_number_in_any_numeric_key_parses_or_names_its_line(
        key in proptest::sample::select(vec![
            "max_underground", "suspended_crew", "shift_hours", "quota", "alarm",
            "power_off", "restore", "alarm_low", "restore_low", "idle_kw",
        ]),
        value in prop_oneof![
            (-5i64..200).prop_map(|n| n.to_string()),
            (-1.0f64..30.0).prop_map(|x| format!("{x:?}")),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<f64>().prop_map(|x| format!("{x:?}").replace("NaN", "nan")),
            Just("1e400".to_owned()),
            Just("-0.0".to_owned()),
        ],
    ) {
        let line = format!("\n{key} = {value}\n");
        // Each key into a table that takes it (a repeated key is an error too).
        let src = match key {
            "max_underground" | "suspended_crew" | "shift_hours" => GOOD.replacen("\n[[area]]", &format!("{line}\n[[area]]"), 1),
            "quota" => GOOD.replacen("quota = 10\n", &line[1..], 1),
            "idle_kw" => format!("{GOOD}\n[[meter]]\nid = \"M1\"\narea = \"A1\"\nload = \"face\"{line}"),
            _ => GOOD.replacen("location = \"intake\"\n", &format!("location = \"intake\"{line}"), 1),
        };
        no_panic_and_placed(parse(&src))?;
        both_paths_agree(&src)?;
    }
}

fn line_containing(src: &str, needle: &str) -> usize {
    src.lines()
        .position(|l| l.contains(needle))
        .map_or(0, |i| i + 1)
}

mod example_registry {
    use super::*;

    #[test]
    fn the_shipped_example_registry_loads_strictly() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/registry");
        let reg = Registry::load_strict(&dir).unwrap_or_else(|e| panic!("{e}"));
        let m = reg.mines.get("140100001").expect("example mine");
        assert!(m.points.len() >= 100, "{}", m.points.len());
        assert!(m.points.iter().any(|p| !p.feeds.is_empty()));
        assert!(m.points.iter().any(|p| p.upwind.is_some()));
        assert!(m.areas.iter().any(|a| a.kind == AreaKind::Sealed));
    }
}
