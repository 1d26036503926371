//! The chapter-to-module tables (the README's chapter table and the module
//! table in `src/lib.rs`) are written by hand for readers; this test keeps
//! them true. What a notebook uses is read from its code cells: a module
//! named as `module::`, an item the prelude exports from it, or the module
//! of one of the notebook's exercises. Modules whose chapters column in
//! `lib.rs` says "all" are plumbing and are not listed per chapter.

use concurrency_lab::exercises::TABLE;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `needle` occurs in `text` with no identifier character right before it
/// (and, if `whole`, none right after it either).
fn occurs(text: &str, needle: &str, whole: bool) -> bool {
    text.match_indices(needle).any(|(i, _)| {
        let before = text[..i].chars().next_back().is_none_or(|c| !is_ident(c));
        let after = text[i + needle.len()..].chars().next().is_none_or(|c| !is_ident(c));
        before && (!whole || after)
    })
}

/// Rows `| a | b | c |` of a markdown table (also behind `//! `), as cells.
fn rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|l| l.trim_start_matches("//!").trim())
        .filter(|l| l.starts_with('|') && !l.starts_with("| ---"))
        .map(|l| l.trim_matches('|').split(" | ").map(|c| c.trim().to_string()).collect())
        .collect()
}

/// The names in backticks in `cell` (`` [`race`] `` and `` `race` ``).
fn ticked(cell: &str) -> BTreeSet<String> {
    cell.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

struct Crate {
    modules: Vec<String>,
    /// lib.rs's module table: module -> chapters ("all" -> None).
    chapters: BTreeMap<String, Option<BTreeSet<String>>>,
    /// prelude item -> module
    prelude: BTreeMap<String, String>,
}

fn crate_tables() -> Crate {
    let lib = read("crate/src/lib.rs");
    let modules = lib.lines().filter_map(|l| l.strip_prefix("pub mod ")?.strip_suffix(';')).map(str::to_string).collect();
    let mut chapters = BTreeMap::new();
    for row in rows(&lib) {
        if let (Some(module), Some(ch)) = (ticked(&row[0]).into_iter().next(), row.last()) {
            let set = if ch.contains("all") {
                None
            } else {
                Some(ch.split(|c: char| !c.is_ascii_digit()).filter(|s| s.len() == 2).map(str::to_string).collect())
            };
            chapters.insert(module, set);
        }
    }
    let mut prelude = BTreeMap::new();
    for line in lib.lines().map(str::trim) {
        let Some(rest) = line.strip_prefix("pub use crate::") else { continue };
        let Some((module, items)) = rest.trim_end_matches(';').split_once("::") else { continue };
        for item in items.trim_matches(|c| c == '{' || c == '}').split(',').map(str::trim) {
            if !item.is_empty() && item != "self" {
                prelude.insert(item.rsplit(" as ").next().unwrap().to_string(), module.to_string());
            }
        }
    }
    Crate { modules, chapters, prelude }
}

/// notebook stem -> concept modules it uses.
fn used(krate: &Crate) -> BTreeMap<String, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    let mut paths: Vec<_> = std::fs::read_dir(root().join("notebooks")).unwrap().flatten().map(|e| e.path()).collect();
    paths.sort();
    for path in paths.into_iter().filter(|p| p.extension().is_some_and(|x| x == "ipynb")) {
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        let nb: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let code: String = nb["cells"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["cell_type"] == "code")
            .flat_map(|c| c["source"].as_array().cloned().unwrap_or_default())
            .filter_map(|l| l.as_str().map(str::to_string))
            .collect();
        let mut set: BTreeSet<String> = krate.modules.iter().filter(|m| occurs(&code, &format!("{m}::"), false)).cloned().collect();
        set.extend(krate.prelude.iter().filter(|(item, _)| occurs(&code, item, true)).map(|(_, m)| m.clone()));
        set.extend(TABLE.iter().filter(|e| e.notebook == stem).map(|e| e.module.to_string()));
        set.retain(|m| matches!(krate.chapters.get(m), Some(Some(_))));
        out.insert(stem, set);
    }
    out
}

#[test]
fn every_module_is_in_the_lib_table() {
    let krate = crate_tables();
    let missing: Vec<_> = krate.modules.iter().filter(|m| !krate.chapters.contains_key(*m)).collect();
    assert!(missing.is_empty(), "modules without a row in the table of src/lib.rs: {missing:?}");
    let extra: Vec<_> = krate.chapters.keys().filter(|m| !krate.modules.contains(m)).collect();
    assert!(extra.is_empty(), "rows in the table of src/lib.rs for modules that do not exist: {extra:?}");
}

#[test]
fn lib_table_chapters_are_the_notebooks_that_use_each_module() {
    let krate = crate_tables();
    let used = used(&krate);
    let mut problems = Vec::new();
    for (module, listed) in &krate.chapters {
        let Some(listed) = listed else { continue };
        let users: BTreeSet<String> = used.iter().filter(|(_, s)| s.contains(module)).map(|(nb, _)| nb[..2].to_string()).collect();
        // Chapters still to come may be listed ahead of their notebooks.
        let existing: BTreeSet<String> = used.keys().map(|nb| nb[..2].to_string()).collect();
        let listed: BTreeSet<String> = listed.intersection(&existing).cloned().collect();
        if listed != users {
            problems.push(format!("`{module}`: the table says chapters {listed:?}, the notebooks that use it are {users:?}"));
        }
    }
    assert!(problems.is_empty(), "src/lib.rs's module table has drifted:\n  {}", problems.join("\n  "));
}

#[test]
fn readme_chapter_table_lists_what_each_notebook_uses() {
    let krate = crate_tables();
    let used = used(&krate);
    let readme = read("README.md");
    let mut problems = Vec::new();
    let mut listed_notebooks = BTreeSet::new();
    for row in rows(&readme) {
        let Some(stem) = row.get(1).and_then(|c| c.split("notebooks/").nth(1)).and_then(|c| c.split(".ipynb").next()) else {
            continue;
        };
        listed_notebooks.insert(stem.to_string());
        let listed = ticked(row.last().unwrap());
        match used.get(stem) {
            None => problems.push(format!("the README lists {stem}, which is not in notebooks/")),
            Some(want) if *want != listed => {
                let cell: Vec<String> = want.iter().map(|m| format!("`{m}`")).collect();
                problems.push(format!("{stem}: the README says {listed:?}; it uses {want:?} (write: {})", cell.join(", ")))
            }
            _ => {}
        }
    }
    for nb in used.keys().filter(|nb| !listed_notebooks.contains(*nb)) {
        problems.push(format!("{nb} has no row in the README's chapter table"));
    }
    assert!(problems.is_empty(), "the README's chapter table has drifted:\n  {}", problems.join("\n  "));
}
