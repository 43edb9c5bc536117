//! The registry directory: every `*.toml` file loaded (in parallel), a mine defined twice refused,
//! and a reload that keeps the last good definition of a file that turned bad.

use super::model::MineDef;
use crate::config::ConfigError;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// All mines of the registry directory.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    /// Mines by id.
    pub mines: HashMap<Arc<str>, Arc<MineDef>>,
    /// Which mine each file defined at its last good load, so a file that turns bad keeps its mine.
    pub files: HashMap<PathBuf, Arc<str>>,
}

/// The outcome of (re)loading a registry directory.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Files that failed; their previous definitions (if any) were kept.
    pub errors: Vec<ConfigError>,
    /// Mines whose definition changed, was added, or was removed (with the file).
    pub changed: Vec<Arc<str>>,
}

impl Registry {
    /// Loads every `*.toml` file in `dir`, in name order. Stops at nothing: each bad file is
    /// reported and the rest are loaded.
    pub fn load_dir(dir: &Path) -> (Registry, LoadReport) {
        let mut r = Registry::default();
        let report = r.reload(dir);
        (r, report)
    }

    /// Loads `dir` strictly: the first problem is an error.
    pub fn load_strict(dir: &Path) -> Result<Registry, ConfigError> {
        let (r, mut report) = Self::load_dir(dir);
        if report.errors.is_empty() {
            Ok(r)
        } else {
            Err(report.errors.remove(0))
        }
    }

    /// Reloads from `dir`: good files replace their mines, a bad file keeps its mine's old
    /// definition, and a file that disappeared takes its mine away.
    pub fn reload(&mut self, dir: &Path) -> LoadReport {
        let mut report = LoadReport::default();
        let mut paths = match std::fs::read_dir(dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect::<Vec<_>>(),
            Err(e) => {
                report.errors.push(ConfigError::file(
                    dir,
                    format!("cannot read registry directory: {e}"),
                ));
                return report;
            }
        };
        paths.sort();
        let mut mines: HashMap<Arc<str>, Arc<MineDef>> = HashMap::new();
        let mut files: HashMap<PathBuf, Arc<str>> = HashMap::new();
        for (path, loaded) in load_all(paths) {
            let def = match loaded {
                Ok(def) => def,
                Err(e) => {
                    if let Some(old_id) = self.files.get(&path)
                        && let Some(old) = self.mines.get(old_id)
                        && !mines.contains_key(old_id)
                    {
                        mines.insert(old_id.clone(), old.clone());
                        files.insert(path.clone(), old_id.clone());
                    }
                    report.errors.push(e);
                    continue;
                }
            };
            if let Some(other) = mines.get(&def.id) {
                let first = other
                    .source
                    .as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                let src = std::fs::read_to_string(&path).unwrap_or_default();
                // The top-level `id = …` line.
                let line = src
                    .lines()
                    .position(|l| {
                        l.trim_start().starts_with("id")
                            && l.split('=').next().is_some_and(|k| k.trim() == "id")
                    })
                    .map(|i| i + 1);
                report.errors.push(ConfigError {
                    path: path.clone(),
                    line,
                    message: format!("mine {:?} is already defined in {first}", def.id),
                });
                continue;
            }
            files.insert(path, def.id.clone());
            mines.insert(def.id.clone(), Arc::new(def));
        }
        for (id, def) in &mines {
            let same = self.mines.get(id).is_some_and(|old| same_def(old, def));
            if !same {
                report.changed.push(id.clone());
            }
        }
        for id in self.mines.keys() {
            if !mines.contains_key(id) {
                report.changed.push(id.clone());
            }
        }
        report.changed.sort();
        self.mines = mines;
        self.files = files;
        report
    }

    /// Total points over all mines.
    pub fn point_count(&self) -> usize {
        self.mines.values().map(|m| m.points.len()).sum()
    }
}

/// Whether two definitions are the same.
pub(super) fn same_def(a: &MineDef, b: &MineDef) -> bool {
    // Definitions are compared by their serialized form: cheap at reload, exact.
    serde_json::to_string(a).ok() == serde_json::to_string(b).ok()
}

/// Loads every file, in parallel across the machine's cores (a national registry is thousands of
/// files, and parsing them is most of a restart), and gives the results back in `paths`' order.
fn load_all(paths: Vec<PathBuf>) -> Vec<(PathBuf, Result<MineDef, ConfigError>)> {
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(paths.len().div_ceil(8))
        .max(1);
    if threads == 1 {
        return paths
            .into_iter()
            .map(|p| {
                let r = MineDef::load(&p);
                (p, r)
            })
            .collect();
    }
    let chunk = paths.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = paths
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|p| (p.clone(), MineDef::load(p)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(paths.len());
        for (w, part) in workers.into_iter().zip(paths.chunks(chunk)) {
            match w.join() {
                Ok(done) => out.extend(done),
                // A parser panic is a bug; report each file of the chunk rather than lose it.
                Err(_) => out.extend(part.iter().map(|p| {
                    (
                        p.clone(),
                        Err(ConfigError::file(
                            p,
                            "internal error while loading this file",
                        )),
                    )
                })),
            }
        }
        out
    })
}
