//! Errors for configuration and registry files. Every error names its file and, where the problem
//! has a place, its line: a typo in a config file is an error, never silently ignored.

use std::fmt;
use std::path::{Path, PathBuf};

/// A problem in a config or registry file.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    /// The file at fault.
    pub path: PathBuf,
    /// 1-based line, when the problem has a place in the file.
    pub line: Option<usize>,
    /// What is wrong, in plain words.
    pub message: String,
}

impl ConfigError {
    /// An error at a byte offset of `source` (turned into a line number).
    pub fn at(
        path: &Path,
        source: &str,
        offset: Option<usize>,
        message: impl Into<String>,
    ) -> Self {
        ConfigError {
            path: path.to_path_buf(),
            line: offset.map(|o| line_of(source, o)),
            message: message.into(),
        }
    }

    /// An error about the file as a whole.
    pub fn file(path: &Path, message: impl Into<String>) -> Self {
        ConfigError {
            path: path.to_path_buf(),
            line: None,
            message: message.into(),
        }
    }

    /// A problem with the value of `key` (a dotted path such as `engine.shard_queue` or
    /// `notify.webhooks[0].url`), on the line where the key is written in `source`; on its
    /// section's line when the key is left to its default.
    pub fn at_key(path: &Path, source: &str, key: &str, message: impl Into<String>) -> Self {
        Self::at(path, source, key_offset(source, key), message)
    }

    /// A TOML syntax or schema error, with the line toml reports.
    pub fn from_toml(path: &Path, source: &str, err: &toml::de::Error) -> Self {
        Self::at(
            path,
            source,
            err.span().map(|s| s.start),
            err.message().trim(),
        )
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.path.display(), line, self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The 1-based line of a byte offset.
pub fn line_of(source: &str, offset: usize) -> usize {
    let end = offset.min(source.len());
    source.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The byte offset of `key` (a dotted path such as `engine.shard_queue` or
/// `notify.webhooks[0].url`) in the TOML text `source`: of the deepest part of the path that is
/// written, so a key left to its default points at its section. `None` when not even the first
/// part is written, or the text is not TOML.
pub fn key_offset(source: &str, key: &str) -> Option<usize> {
    use toml::de::{DeTable, DeValue};
    let doc = DeTable::parse(source).ok()?;
    let mut table: &DeTable<'_> = doc.get_ref();
    let mut at = None;
    for part in key.split('.') {
        let (name, index) = match part.split_once('[') {
            Some((name, rest)) => (
                name,
                rest.strip_suffix(']').and_then(|i| i.parse::<usize>().ok()),
            ),
            None => (part, None),
        };
        let Some((k, mut value)) = table.iter().find(|(k, _)| k.get_ref() == name) else {
            break;
        };
        at = Some(k.span().start);
        if let Some(i) = index {
            let item: Option<&toml::Spanned<DeValue<'_>>> = match value.get_ref() {
                DeValue::Array(items) => items.get(i),
                _ => None,
            };
            let Some(item) = item else { break };
            at = Some(item.span().start);
            value = item;
        }
        match value.get_ref() {
            DeValue::Table(t) => table = t,
            _ => break,
        }
    }
    at
}

/// Reads a config or registry file as text. A file that is not UTF-8 is an error naming the
/// byte offset and the line of its first invalid byte.
pub fn read_text(path: &Path) -> Result<String, ConfigError> {
    let bytes =
        std::fs::read(path).map_err(|e| ConfigError::file(path, format!("cannot read: {e}")))?;
    decode_text(path, bytes)
}

/// `bytes` of the file at `path` as text, or an error naming the offset and line of the first
/// byte that is not UTF-8.
pub fn decode_text(path: &Path, bytes: Vec<u8>) -> Result<String, ConfigError> {
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let line = bytes[..offset].iter().filter(|&&b| b == b'\n').count() + 1;
        let byte = bytes.get(offset).copied().unwrap_or_default();
        ConfigError {
            path: path.to_path_buf(),
            line: Some(line),
            message: format!(
                "not UTF-8: byte 0x{byte:02x} at byte offset {offset} is not valid UTF-8 text"
            ),
        }
    })
}

/// Parses a TOML file strictly into `T` (which should use `deny_unknown_fields`).
pub fn parse_toml_file<T: serde::de::DeserializeOwned>(
    path: &Path,
) -> Result<(T, String), ConfigError> {
    let source = read_text(path)?;
    let value = toml::from_str(&source).map_err(|e| ConfigError::from_toml(path, &source, &e))?;
    Ok((value, source))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_one_based_lines() {
        let src = "a = 1\nb = 2\nc = 3\n";
        assert_eq!(line_of(src, 0), 1);
        assert_eq!(line_of(src, 6), 2);
        assert_eq!(line_of(src, 13), 3);
    }

    #[test]
    fn unknown_key_names_file_and_line() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct T {
            a: u32,
        }
        let src = "a = 1\nbogus = 2\n";
        let err = toml::from_str::<T>(src).expect_err("unknown key must fail");
        let e = ConfigError::from_toml(Path::new("x.toml"), src, &err);
        assert_eq!(e.line, Some(2), "{e}");
        assert!(e.to_string().starts_with("x.toml:2: "), "{e}");
        assert!(e.message.contains("bogus"), "{e}");
    }

    #[test]
    fn a_key_path_finds_the_line_of_the_key_or_of_its_section() {
        let src = "[engine]\nshards = 2\n\n[[notify.webhooks]]\nname = \"a\"\n\n[[notify.webhooks]]\nname = \"b\"\nurl = \"x\"\n";
        let line = |key: &str| key_offset(src, key).map(|o| line_of(src, o));
        assert_eq!(line("engine.shards"), Some(2));
        assert_eq!(
            line("engine.tick"),
            Some(1),
            "a default points at its section"
        );
        assert_eq!(line("notify.webhooks[1].url"), Some(9));
        assert_eq!(line("notify.webhooks[0]").map(|l| l <= 5), Some(true));
        assert_eq!(line("mqtt.host"), None);
        assert_eq!(key_offset("not = = toml", "not"), None);
    }

    #[test]
    fn text_that_is_not_utf8_names_the_offset_and_line_of_the_first_bad_byte() {
        let e = decode_text(Path::new("m.toml"), b"a = 1\nb = \"\xff\"\n".to_vec())
            .expect_err("invalid UTF-8");
        assert_eq!(e.line, Some(2), "{e}");
        assert!(
            e.to_string().starts_with("m.toml:2: ") && e.message.contains("offset 11"),
            "{e}"
        );
        assert!(e.message.contains("0xff"), "{e}");
        assert_eq!(
            decode_text(Path::new("m.toml"), "é = 1".as_bytes().to_vec()),
            Ok("é = 1".to_owned())
        );
    }
}
