//! The core's modules import each other in one direction only: no circle
//! (an invocation, its failure, its progress, the hub it is told on, the
//! context its thread works for, ... each builds on those before it), so a
//! reader can take them in order and a change to one cannot loop back.
//!
//! The graph is read from the sources: every `crate::module` path, and
//! every `crate::Name` or `crate::{Name, ..}` resolved through the
//! re-exports of `lib.rs`, outside comments and `#[cfg(test)]` modules.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Graph = BTreeMap<String, BTreeSet<String>>;

/// Identifiers that follow `crate::` in `code`, also inside one `{..}`.
fn crate_paths(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let ident = |s: &str| -> String { s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect() };
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = group.split('}').next().unwrap_or("");
            found.extend(group.split(',').map(|n| ident(n.trim())).filter(|n| !n.is_empty()));
        } else {
            found.push(ident(rest));
        }
    }
    found
}

/// A source file without comment lines and without its test module.
fn code_of(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `Name -> module` for every `pub use module::{..}` / `pub use module::Name;` of lib.rs.
fn reexports(lib: &str) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    let code = code_of(lib);
    for (at, _) in code.match_indices("pub use ") {
        let rest = &code[at + "pub use ".len()..];
        let Some((module, items)) = rest.split_once("::") else {
            continue;
        };
        let items = items.split(';').next().unwrap_or("");
        let items = items.trim_start_matches('{').trim_end_matches('}');
        for item in items.split(',') {
            let item = item.trim();
            if !item.is_empty() {
                names.insert(item.to_owned(), module.trim().to_owned());
            }
        }
    }
    names
}

fn graph(src: &Path) -> Graph {
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs");
    let names = reexports(&lib);
    let mut graph = Graph::new();
    let mut visit = vec![src.to_path_buf()];
    while let Some(dir) = visit.pop() {
        for entry in std::fs::read_dir(&dir).expect("the source folder") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                visit.push(path);
                continue;
            }
            let relative = path.strip_prefix(src).expect("under src");
            let module = relative
                .components()
                .next()
                .and_then(|c| c.as_os_str().to_str())
                .map(|m| m.trim_end_matches(".rs").to_owned())
                .expect("a module name");
            if module == "lib" || path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let code = code_of(&std::fs::read_to_string(&path).expect("a source file"));
            let deps = graph.entry(module.clone()).or_default();
            for name in crate_paths(&code) {
                let target = names.get(&name).cloned().unwrap_or(name);
                if target != module && !target.is_empty() {
                    deps.insert(target);
                }
            }
        }
    }
    let modules: BTreeSet<String> = graph.keys().cloned().collect();
    for deps in graph.values_mut() {
        deps.retain(|d| modules.contains(d));
    }
    graph
}

/// A circle of imports, if there is one: the modules along it.
fn circle(graph: &Graph) -> Option<Vec<String>> {
    fn walk(node: &str, graph: &Graph, path: &mut Vec<String>, done: &mut BTreeSet<String>) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut found = path[at..].to_vec();
            found.push(node.to_owned());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = walk(next, graph, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|start| walk(start, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_core_modules_import_each_other_without_a_circle() {
    let graph = graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    // The reading is not empty: the invocation family is where it is expected.
    assert!(graph["hub"].contains("invocation"), "{graph:?}");
    assert!(graph["outcome"].contains("asynchronous"), "{graph:?}");
    if let Some(found) = circle(&graph) {
        panic!(
            "the core's modules import each other in a circle: {}",
            found.join(" -> ")
        );
    }
}

#[test]
fn a_circle_is_found_when_there_is_one() {
    let mut graph = Graph::new();
    graph.entry("invocation".into()).or_default().insert("progress".into());
    graph.entry("progress".into()).or_default().insert("hub".into());
    graph.entry("hub".into()).or_default().insert("invocation".into());
    assert_eq!(
        circle(&graph),
        Some(vec!["hub".into(), "invocation".into(), "progress".into(), "hub".into()])
    );
    if let Some(deps) = graph.get_mut("hub") {
        deps.clear();
    }
    assert_eq!(circle(&graph), None);
}

#[test]
fn paths_and_groups_are_read() {
    assert_eq!(
        crate_paths("use crate::hub::Hub;\nuse crate::{Failure, Lab};"),
        ["hub", "Failure", "Lab"]
    );
}
