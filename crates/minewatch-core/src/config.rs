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

/// Parses a TOML file strictly into `T` (which should use `deny_unknown_fields`).
pub fn parse_toml_file<T: serde::de::DeserializeOwned>(
    path: &Path,
) -> Result<(T, String), ConfigError> {
    let source = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::file(path, format!("cannot read: {e}")))?;
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
}
