//! A fast path for the registry's common shape: top-level `key = value` lines and `[[area]]`,
//! `[[point]]`, `[[camera]]`, `[[meter]]` tables whose values are one-line strings, numbers,
//! booleans and arrays of strings, with comments anywhere a line may end.
//!
//! A national registry is thousands of such files, and the general TOML parser (which builds a
//! document tree before serde sees it) was three quarters of a restart. This reads the same files
//! straight into [`MineFile`], with the same spans, and gives up (`None`) on anything outside
//! that shape or anything it is not sure of: an escape in a string, a multi-line string or array,
//! an inline table, a dotted or quoted key, a date, an unknown or repeated key, a type the field
//! does not take, a missing required key. The caller then parses the file with the `toml` crate,
//! which stays the one authority on what TOML means and gives every error with its line; what
//! this accepts, the `toml` crate accepts with the same result (tests compare the two).

use super::model::MineStatus;
use super::schema::{
    AreaFile, CameraFile, MeterFile, MineFile, PointFile, Text, default_shift_hours,
};
use serde::Deserialize;
use serde::de::IntoDeserializer;
use std::borrow::Cow;
use std::ops::Range;
use toml::Spanned;

/// Parses `src`, or `None` when it is not in the shape this reads.
pub(super) fn parse(src: &str) -> Option<MineFile<'_>> {
    let mut file = MineFile {
        id: Spanned::new(0..0, Cow::Borrowed("")),
        name: String::new(),
        status: MineStatus::Producing,
        max_underground: 0,
        suspended_crew: 0,
        shift_hours: default_shift_hours(),
        utc_offset: None,
        area: Vec::new(),
        point: Vec::new(),
        camera: Vec::new(),
        meter: Vec::new(),
    };
    // The keys of the table being read (the top level first); a table is converted when the
    // next one starts, so one scratch list serves every table.
    let mut fields = Fields::default();
    let mut section: Option<Section> = None;
    let mut offset = 0;
    for raw in src.split_inclusive('\n') {
        let start = offset;
        offset += raw.len();
        let line = raw
            .strip_suffix('\n')
            .map_or(raw, |l| l.strip_suffix('\r').unwrap_or(l));
        let lead = line.len() - line.trim_start_matches([' ', '\t']).len();
        let body = &line[lead..];
        if rest_is_blank(body) {
            continue;
        }
        if let Some(rest) = body.strip_prefix("[[") {
            let close = rest.find(']')?;
            let (name, after) = (&rest[..close], rest[close..].strip_prefix("]]")?);
            if !rest_is_blank(after) {
                return None;
            }
            finish(&mut file, section, &mut fields)?;
            section = Some(Section::parse(name)?);
            continue;
        }
        let (key, value) = key_value(body, start + lead)?;
        if fields.0.iter().any(|(k, _)| *k == key) {
            return None;
        }
        fields.0.push((key, value));
    }
    finish(&mut file, section, &mut fields)?;
    Some(file)
}

/// Converts the keys read for `section` (`None`: the top level) into `file`; `None` for an
/// unknown, missing or mistyped key.
fn finish<'a>(file: &mut MineFile<'a>, section: Option<Section>, f: &mut Fields<'a>) -> Option<()> {
    match section {
        None => {
            file.id = f.string("id")?;
            file.name = f.plain("name")?;
            file.status = f.enumerated("status")?;
            file.max_underground = f.count("max_underground")?;
            file.suspended_crew = f.opt_count("suspended_crew")?.unwrap_or(0);
            file.shift_hours = f
                .opt_number("shift_hours")?
                .unwrap_or_else(default_shift_hours);
            file.utc_offset = f.opt_string("utc_offset")?;
        }
        Some(Section::Area) => file.area.push(AreaFile {
            id: f.string("id")?,
            name: f.plain("name")?,
            kind: f.enumerated("kind")?,
            quota: f.opt_count("quota")?,
            declared: f.opt_bool("declared")?.unwrap_or(true),
        }),
        Some(Section::Point) => file.point.push(PointFile {
            id: f.string("id")?,
            area: f.string("area")?,
            kind: f.enumerated("kind")?,
            location: f.opt_spanned_enum("location")?,
            alarm: f.opt_number("alarm")?,
            power_off: f.opt_number("power_off")?,
            restore: f.opt_number("restore")?,
            alarm_low: f.opt_number("alarm_low")?,
            restore_low: f.opt_number("restore_low")?,
            feeds: f.opt_strings("feeds")?.unwrap_or_default(),
            upwind: f.opt_string("upwind")?,
        }),
        Some(Section::Camera) => file.camera.push(CameraFile {
            id: f.string("id")?,
            area: f.string("area")?,
            watches: f.enumerated("watches")?,
        }),
        Some(Section::Meter) => file.meter.push(MeterFile {
            id: f.string("id")?,
            area: f.string("area")?,
            load: f.enumerated("load")?,
            idle_kw: f.opt_number("idle_kw")?.unwrap_or(0.0),
        }),
    }
    f.done().then_some(())
}

#[derive(Clone, Copy)]
enum Section {
    Area,
    Point,
    Camera,
    Meter,
}

impl Section {
    fn parse(name: &str) -> Option<Section> {
        match name {
            "area" => Some(Section::Area),
            "point" => Some(Section::Point),
            "camera" => Some(Section::Camera),
            "meter" => Some(Section::Meter),
            _ => None,
        }
    }
}

/// A value as written, with its byte range in the file.
#[derive(Debug)]
enum Value<'a> {
    Str(&'a str, Range<usize>),
    Int(i64),
    Float(f64),
    Bool(bool),
    Strs(Vec<(&'a str, Range<usize>)>),
}

/// The keys of one table, in order; each is taken once.
#[derive(Default)]
struct Fields<'a>(Vec<(&'a str, Value<'a>)>);

impl<'a> Fields<'a> {
    fn take(&mut self, key: &str) -> Option<Value<'a>> {
        let i = self.0.iter().position(|(k, _)| *k == key)?;
        Some(self.0.swap_remove(i).1)
    }

    /// Every key was taken: none is unknown.
    fn done(&self) -> bool {
        self.0.is_empty()
    }

    // Each `opt_*` is `None` (give up) for a value of the wrong type, `Some(None)` when absent.

    fn opt_string(&mut self, key: &str) -> Option<Option<Text<'a>>> {
        match self.take(key) {
            None => Some(None),
            Some(Value::Str(s, r)) => Some(Some(Spanned::new(r, Cow::Borrowed(s)))),
            Some(_) => None,
        }
    }

    fn string(&mut self, key: &str) -> Option<Text<'a>> {
        self.opt_string(key)?
    }

    fn plain(&mut self, key: &str) -> Option<String> {
        self.string(key).map(|s| s.into_inner().into_owned())
    }

    fn opt_strings(&mut self, key: &str) -> Option<Option<Vec<Text<'a>>>> {
        match self.take(key) {
            None => Some(None),
            Some(Value::Strs(v)) => Some(Some(
                v.into_iter()
                    .map(|(s, r)| Spanned::new(r, Cow::Borrowed(s)))
                    .collect(),
            )),
            Some(_) => None,
        }
    }

    fn opt_count(&mut self, key: &str) -> Option<Option<u32>> {
        match self.take(key) {
            None => Some(None),
            Some(Value::Int(i)) => u32::try_from(i).ok().map(Some),
            Some(_) => None,
        }
    }

    fn count(&mut self, key: &str) -> Option<u32> {
        self.opt_count(key)?
    }

    /// A float field takes an integer too, as serde's `f64` does.
    fn opt_number(&mut self, key: &str) -> Option<Option<f64>> {
        match self.take(key) {
            None => Some(None),
            Some(Value::Float(x)) => Some(Some(x)),
            Some(Value::Int(i)) => Some(Some(i as f64)),
            Some(_) => None,
        }
    }

    fn opt_bool(&mut self, key: &str) -> Option<Option<bool>> {
        match self.take(key) {
            None => Some(None),
            Some(Value::Bool(b)) => Some(Some(b)),
            Some(_) => None,
        }
    }

    fn opt_spanned_enum<T: for<'de> Deserialize<'de>>(
        &mut self,
        key: &str,
    ) -> Option<Option<Spanned<T>>> {
        match self.take(key) {
            None => Some(None),
            Some(Value::Str(s, r)) => Some(Some(Spanned::new(r, variant(s)?))),
            Some(_) => None,
        }
    }

    fn enumerated<T: for<'de> Deserialize<'de>>(&mut self, key: &str) -> Option<T> {
        self.opt_spanned_enum(key)?.map(Spanned::into_inner)
    }
}

/// A unit variant by its snake_case name, through the type's own `Deserialize`.
fn variant<T: for<'de> Deserialize<'de>>(s: &str) -> Option<T> {
    let d: serde::de::value::StrDeserializer<'_, serde::de::value::Error> = s.into_deserializer();
    T::deserialize(d).ok()
}

/// Nothing but blanks and a comment (without control characters, which TOML forbids there).
fn rest_is_blank(s: &str) -> bool {
    let s = s.trim_start_matches([' ', '\t']);
    s.is_empty()
        || (s.starts_with('#') && s.bytes().all(|b| (b >= 0x20 || b == b'\t') && b != 0x7f))
}

/// `key = value` (and blanks or a comment) at byte `at` of the file.
fn key_value(body: &str, at: usize) -> Option<(&str, Value<'_>)> {
    let key_len = body
        .bytes()
        .position(|b| !(b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))?;
    let (key, rest) = body.split_at(key_len);
    if key.is_empty() {
        return None;
    }
    let after_key = rest.trim_start_matches([' ', '\t']);
    let after_eq = after_key.strip_prefix('=')?;
    let value_text = after_eq.trim_start_matches([' ', '\t']);
    let value_at = at + body.len() - value_text.len();
    let (value, used) = value(value_text, value_at)?;
    rest_is_blank(&value_text[used..]).then_some((key, value))
}

/// One value at the start of `s` (byte `at` of the file), and the bytes it used.
fn value(s: &str, at: usize) -> Option<(Value<'_>, usize)> {
    match s.as_bytes().first()? {
        b'"' | b'\'' => {
            let (text, used) = string(s)?;
            Some((Value::Str(text, at..at + used), used))
        }
        b'[' => {
            let mut items = Vec::new();
            let mut i = 1;
            loop {
                i += blanks(&s[i..]);
                match s.as_bytes().get(i)? {
                    b']' => return Some((Value::Strs(items), i + 1)),
                    b'"' | b'\'' => {
                        let (text, used) = string(&s[i..])?;
                        items.push((text, at + i..at + i + used));
                        i += used;
                        i += blanks(&s[i..]);
                        match s.as_bytes().get(i)? {
                            b',' => i += 1,
                            b']' => return Some((Value::Strs(items), i + 1)),
                            _ => return None,
                        }
                    }
                    _ => return None,
                }
            }
        }
        b't' if s.starts_with("true") && !continues(&s[4..]) => Some((Value::Bool(true), 4)),
        b'f' if s.starts_with("false") && !continues(&s[5..]) => Some((Value::Bool(false), 5)),
        _ => number(s),
    }
}

fn blanks(s: &str) -> usize {
    s.len() - s.trim_start_matches([' ', '\t']).len()
}

/// Whether a bare word goes on after a keyword (`truex` is not `true`).
fn continues(s: &str) -> bool {
    s.bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

/// A one-line basic string without escapes, or a one-line literal string; its contents and the
/// bytes used (quotes included). Control characters, escapes and triple quotes give up.
fn string(s: &str) -> Option<(&str, usize)> {
    let quote = *s.as_bytes().first()?;
    let rest = &s[1..];
    if rest.as_bytes().first() == Some(&quote) && rest.as_bytes().get(1) == Some(&quote) {
        return None;
    }
    let end = rest.bytes().position(|b| b == quote)?;
    let text = &rest[..end];
    let clean = text
        .bytes()
        .all(|b| (b >= 0x20 || b == b'\t') && b != 0x7f && (quote == b'\'' || b != b'\\'));
    clean.then_some((text, end + 2))
}

/// A decimal integer or float as TOML writes them, without underscores, leading zeros, hex,
/// `inf` or `nan` (those give up).
fn number(s: &str) -> Option<(Value<'static>, usize)> {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let digits = |from: usize| b[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let int_len = digits(i);
    if int_len == 0 || (int_len > 1 && b[i] == b'0') {
        return None;
    }
    i += int_len;
    let mut float = false;
    if b.get(i) == Some(&b'.') {
        let frac = digits(i + 1);
        if frac == 0 {
            return None;
        }
        i += 1 + frac;
        float = true;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let exp = digits(j);
        if exp == 0 {
            return None;
        }
        i = j + exp;
        float = true;
    }
    if continues(&s[i..]) {
        return None;
    }
    let text = &s[..i];
    let v = if float {
        Value::Float(text.parse().ok().filter(|x: &f64| x.is_finite())?)
    } else {
        Value::Int(text.parse().ok()?)
    };
    Some((v, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_toml_writes_them() {
        let n = |s: &str| match number(s) {
            Some((Value::Int(i), used)) => Some((i as f64, used)),
            Some((Value::Float(x), used)) => Some((x, used)),
            _ => None,
        };
        assert_eq!(n("12 # c"), Some((12.0, 2)));
        assert_eq!(n("-0.5"), Some((-0.5, 4)));
        assert_eq!(n("+1e3"), Some((1000.0, 4)));
        assert_eq!(n("2.5E-1"), Some((0.25, 6)));
        assert_eq!(n("0"), Some((0.0, 1)));
        for odd in [
            "012",
            "1_000",
            "0x10",
            "1.",
            ".5",
            "inf",
            "nan",
            "1e",
            "1.5x",
            "1979-05-27",
        ] {
            assert_eq!(n(odd), None, "{odd}");
        }
    }

    #[test]
    fn strings_without_escapes_only() {
        assert_eq!(string("\"A1\" # c"), Some(("A1", 4)));
        assert_eq!(string("'C:\\x'"), Some(("C:\\x", 6)));
        assert_eq!(string("\"\""), Some(("", 2)));
        for odd in [
            "\"a\\\"b\"",
            "\"\"\"x\"\"\"",
            "'''x'''",
            "\"open",
            "\"a\u{1}\"",
        ] {
            assert_eq!(string(odd), None, "{odd}");
        }
    }

    #[test]
    fn anything_unusual_gives_up() {
        let base = "id = \"M1\"\nname = \"N\"\nstatus = \"producing\"\nmax_underground = 5\n";
        assert!(parse(base).is_some());
        for extra in [
            "max_underground = 6\n", // repeated key
            "colour = \"red\"\n",    // unknown key
            "a.b = 1\n",             // dotted key
            "\"quoted\" = 1\n",      // quoted key
            "[area]\n",              // a table, not an array of tables
            "[[shaft]]\n",           // unknown array
            "shift_hours = \"8\"\n", // wrong type
            "utc_offset = 8\n",      // wrong type
            "suspended_crew = -1\n", // out of range
            "[[point]]\nid = \"P\"\narea = \"A\"\nkind = \"ch4\"\nfeeds = [\n\"F\"]\n", // multi-line
            "[[area]]\nid = \"A\"\nname = \"a\"\nkind = \"sealed\"\nquota = { n = 1 }\n",
            "[[camera]]\nid = \"C\"\narea = \"A\"\nwatches = \"the_moon\"\n", // unknown variant
            "[[meter]]\nid = \"M\"\nload = \"face\"\n", // missing required key
        ] {
            assert!(parse(&format!("{base}{extra}")).is_none(), "{extra}");
        }
        assert!(parse("name = \"N\"\nstatus = \"producing\"\nmax_underground = 5\n").is_none());
    }
}
