//! The workspace's layout rules (issue 11), read from the source files: no non-test source file
//! under `crates/` is over 800 lines, and no two modules of a crate import each other, directly
//! or through others.
//!
//! A test file is one named `tests.rs` or `*_tests.rs` (inline tests moved out of a big file), or
//! one under a crate's `tests/` or `benches/` directory. What the cycle check reads, and what it
//! does not, is said at [`imports`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The longest a non-test source file may be.
const MAX_LINES: usize = 800;

/// Crates not checked yet (none: every crate is).
const NOT_YET: &[&str] = &[];

fn crates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates")
}

/// Every crate directory under `crates/` that is checked, by name.
fn checked_crates() -> Vec<(String, PathBuf)> {
    let mut out: Vec<_> = std::fs::read_dir(crates_dir())
        .expect("crates/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("Cargo.toml").is_file())
        .map(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            (name.unwrap_or_default(), p)
        })
        .filter(|(name, _)| !NOT_YET.contains(&name.as_str()))
        .collect();
    out.sort();
    out
}

/// The `.rs` files under `dir`, recursively, in name order.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out
}

/// Whether a file under `src/` holds only tests.
fn is_test_file(path: &Path) -> bool {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    name.is_some_and(|n| n == "tests.rs" || n.ends_with("_tests.rs"))
}

/// The non-test source files of a crate.
fn sources(krate: &Path) -> Vec<PathBuf> {
    rust_files(&krate.join("src"))
        .into_iter()
        .filter(|p| !is_test_file(p))
        .collect()
}

#[test]
fn no_non_test_source_file_is_over_800_lines() {
    let mut long = Vec::new();
    let mut files = 0;
    for (_, krate) in checked_crates() {
        for file in sources(&krate) {
            files += 1;
            let text = std::fs::read_to_string(&file).expect("a source file");
            let lines = text.lines().count();
            if lines > MAX_LINES {
                long.push(format!("{} ({lines} lines)", file.display()));
            }
        }
    }
    assert!(
        files > 50,
        "only {files} files found: is crates/ where it was?"
    );
    assert!(
        long.is_empty(),
        "over {MAX_LINES} lines: split along the file's seams, or move its inline tests to a \
         sibling tests.rs:\n{}",
        long.join("\n")
    );
}

/// `text` without its comments (whole `//` lines and `//` tails) and without what follows the
/// first `#[cfg(test)]` line: inline tests come last in this workspace, and a test module may
/// use any module it likes.
fn code_of(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]") {
            break;
        }
        if t.starts_with("//") {
            continue;
        }
        // A `//` inside a string ("http://…") is not a comment; `crate::` never follows one.
        let code = match line.find(" //") {
            Some(i) if !line[..i].contains('"') => &line[..i],
            _ => line,
        };
        out.push_str(code);
        out.push('\n');
    }
    out
}

/// The first path segment of every item of a `use` tree body: `a::b, c, {d, e}` (nested braces
/// inside a segment belong to that segment).
fn first_segments(tree: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut item = String::new();
    for c in tree.chars().chain(std::iter::once(',')) {
        match c {
            '{' => {
                depth += 1;
                item.push(c);
            }
            '}' => {
                depth -= 1;
                item.push(c);
            }
            ',' if depth == 0 => {
                let first = item
                    .trim()
                    .split("::")
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string();
                let first = first.split_whitespace().next().unwrap_or("").to_string();
                if !first.is_empty() {
                    out.push(first);
                }
                item.clear();
            }
            _ => item.push(c),
        }
    }
    out
}

/// The names `crate::NAME` stands for in `code`: from `crate::NAME…` paths (in `use` declarations
/// or inline, `$crate::` in macros included) and from `use crate::{A, b::C}` groups.
fn crate_names(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().last();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let end = group
                .char_indices()
                .find(|&(_, c)| {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map_or(group.len(), |(i, _)| i);
            out.extend(first_segments(&group[..end]));
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.push(name);
            }
        }
    }
    out
}

/// The import graph of one crate's top-level modules: which module's code names which other
/// module through a `crate::` path.
///
/// A file belongs to the top-level module of its path (`src/registry/fast.rs` is `registry`).
/// `crate::X` counts for module `X`; a name the crate root re-exports with `pub use X::{…}` counts
/// for `X`. The crate root (`lib.rs`, `main.rs`) is no module here: it declares and wires them
/// all, and its own items (such as the gateway's `AppState`) are shared by design. Not seen:
/// `super::` paths (within a module, or to the root), glob re-exports of the root, and anything
/// in a module's inline tests.
fn imports(krate: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let src = krate.join("src");
    let root = ["lib.rs", "main.rs"]
        .iter()
        .map(|r| src.join(r))
        .find(|p| p.is_file());
    let module_of = |file: &Path| -> Option<String> {
        let rel = file.strip_prefix(&src).ok()?;
        let first = rel.components().next()?.as_os_str().to_string_lossy();
        let name = first.strip_suffix(".rs").unwrap_or(&first).to_string();
        (name != "lib" && name != "main" && name != "bin").then_some(name)
    };
    let modules: BTreeSet<String> = sources(krate).iter().filter_map(|f| module_of(f)).collect();
    // What the root re-exports: `pub use X::{a, b as c};` and `pub use X::a;`.
    let mut reexports: BTreeMap<String, String> = BTreeMap::new();
    if let Some(root) = &root {
        let code = code_of(&std::fs::read_to_string(root).expect("the crate root"));
        for stmt in code.split(';') {
            let Some(path) = stmt.trim().strip_prefix("pub use ") else {
                continue;
            };
            let path = path
                .trim()
                .trim_start_matches("crate::")
                .trim_start_matches("self::");
            let Some((module, items)) = path.split_once("::") else {
                continue;
            };
            if !modules.contains(module) {
                continue;
            }
            let items = items.trim();
            let items = items
                .strip_prefix('{')
                .and_then(|i| i.strip_suffix('}'))
                .unwrap_or(items);
            for item in items.split(',') {
                let last = item.split(" as ").last().unwrap_or("").trim();
                let last = last.rsplit("::").next().unwrap_or("").trim();
                if !last.is_empty() {
                    reexports.insert(last.to_string(), module.to_string());
                }
            }
        }
    }
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in sources(krate) {
        let Some(from) = module_of(&file) else {
            continue;
        };
        let code = code_of(&std::fs::read_to_string(&file).expect("a source file"));
        let edges = graph.entry(from.clone()).or_default();
        for name in crate_names(&code) {
            let to = if modules.contains(&name) {
                Some(name)
            } else {
                reexports.get(&name).cloned()
            };
            if let Some(to) = to.filter(|to| *to != from) {
                edges.insert(to);
            }
        }
    }
    graph
}

/// Every cycle of `graph`, each as its modules in order, the first repeated at the end.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        found: &mut Vec<Vec<String>>,
    ) {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            found.push(cycle);
            return;
        }
        if done.contains(node) {
            return;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            visit(next, graph, path, done, found);
        }
        path.pop();
        done.insert(node.to_string());
    }
    let mut found = Vec::new();
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        visit(node, graph, &mut Vec::new(), &mut done, &mut found);
    }
    found
}

#[test]
fn no_two_modules_of_a_crate_import_each_other() {
    let mut found = Vec::new();
    let mut edges = 0;
    for (name, krate) in checked_crates() {
        let graph = imports(&krate);
        edges += graph.values().map(BTreeSet::len).sum::<usize>();
        for cycle in cycles(&graph) {
            found.push(format!("{name}: {}", cycle.join(" -> ")));
        }
    }
    assert!(
        edges > 30,
        "only {edges} imports found: is the reader still reading?"
    );
    assert!(
        found.is_empty(),
        "import cycles (move what both need where both can depend on it):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_cycle_check_sees_a_cycle_through_a_use_group_an_inline_path_and_a_root_reexport() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("b")).expect("src/b");
    let write = |file: &str, text: &str| std::fs::write(src.join(file), text).expect("write");
    write(
        "lib.rs",
        "mod a;\nmod b;\nmod c;\nmod d;\npub use c::{Thing, Other as Renamed};\npub struct Root;\n",
    );
    // a -> b through a use group; b (a file of its own folder) -> c through the root's
    // re-export; c -> a through an inline path; d only uses the root and comments.
    write("a.rs", "use crate::{Root, b::Helper};\n");
    write("b.rs", "mod inner;\n");
    write("b/inner.rs", "use crate::Renamed;\n");
    write(
        "c.rs",
        "fn f() { crate::a::g(); }\n#[cfg(test)]\nmod tests { use crate::d::X; }\n",
    );
    write("d.rs", "// crate::a::g() in a comment\nuse crate::Root;\n");
    let graph = imports(dir.path());
    let edge = |from: &str, to: &str| graph.get(from).is_some_and(|e| e.contains(to));
    assert!(
        edge("a", "b") && edge("b", "c") && edge("c", "a"),
        "{graph:?}"
    );
    assert!(
        !edge("c", "d"),
        "a test module's import does not count: {graph:?}"
    );
    assert!(graph.get("d").is_none_or(BTreeSet::is_empty), "{graph:?}");
    assert_eq!(
        cycles(&graph),
        vec![vec!["a".to_string(), "b".into(), "c".into(), "a".into()]]
    );
}

/// Files under `dir` (recursively) that are source a product build uses: `.rs` and `.js`, not
/// under a `tests`, `benches` or `target` directory, not a test file.
fn product_sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for p in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
        let name = name.unwrap_or_default();
        if p.is_dir() {
            if !matches!(name.as_str(), "tests" | "benches" | "target") {
                product_sources(&p, out);
            }
        } else if (name.ends_with(".rs") && !is_test_file(&p) && name != "testkit.rs")
            || name.ends_with(".js")
        {
            out.push(p);
        }
    }
}

/// Whether `word` occurs in `text` as a whole word (identifier characters around it end it).
fn has_word(text: &str, word: &str) -> bool {
    let ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    text.match_indices(word).any(|(i, _)| {
        !ident(text[..i].chars().next_back()) && !ident(text[i + word.len()..].chars().next())
    })
}

/// Issue 11, item 5: adding a kind touches at most three non-test source files (its line in the
/// kind list, its rules module, its simulator planner), so every existing kind's snake_case and
/// CamelCase names appear in at most three, comments included.
#[test]
fn every_kind_is_named_in_at_most_three_non_test_source_files() {
    // A name that is also a contract field of the payloads, not a mention of the kind.
    const FIELDS: &[(&str, &str)] = &[("distress", "minewatch-core/src/payload.rs")];
    let mut files = Vec::new();
    product_sources(&crates_dir(), &mut files);
    let texts: Vec<(String, String)> = files
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).expect("a source file");
            // What follows the first `#[cfg(test)]` is the file's tests.
            let code = text.split("#[cfg(test)]").next().unwrap_or("").to_string();
            let rel = p.strip_prefix(crates_dir()).unwrap_or(p);
            (rel.display().to_string(), code)
        })
        .collect();
    assert!(texts.len() > 100, "only {} files found", texts.len());
    let mut over = Vec::new();
    for kind in minewatch_core::Kind::ALL {
        let snake = kind.as_str();
        let camel: String = snake
            .split('_')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect::<String>())
                    .unwrap_or_default()
            })
            .collect();
        let named: Vec<&str> = texts
            .iter()
            .filter(|(path, text)| {
                !FIELDS.contains(&(snake, path.as_str()))
                    && (has_word(text, snake) || has_word(text, &camel))
            })
            .map(|(path, _)| path.as_str())
            .collect();
        if named.len() > 3 {
            over.push(format!("{snake}: {}", named.join(", ")));
        }
    }
    assert!(
        over.is_empty(),
        "kinds named in more than three non-test source files (the list in core alert.rs, \
         rules kinds/<kind>.rs, sim anomaly/<kind>.rs):\n{}",
        over.join("\n")
    );
}
