//! The architecture, checked on the source (docs/architecture.md): which
//! layer may use which, and no module uses a module that uses it back.
//! Reads `use crate::...`, `crate::...`, `super::...` and child-module
//! paths of every file of both crates; test modules are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path (`store::walk`) of every source file of a crate.
fn modules(src: &Path) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            // A binary's main.rs is not a module of the library.
            if path.extension().is_none_or(|e| e != "rs") || path.ends_with("main.rs") {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap().with_extension("");
            let mut parts: Vec<String> = relative
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
                parts.pop();
            }
            let name = if parts.is_empty() {
                "crate".to_string()
            } else {
                parts.join("::")
            };
            out.insert(name, path);
        }
    }
    out
}

/// The code of a whole file without its test modules and comments: a
/// test module may sit in the middle, with code after it.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect();
    let mut kept = Vec::new();
    let mut depth = 0usize;
    let mut in_tests = false;
    for (i, line) in lines.iter().enumerate() {
        let opens_tests = i > 0
            && lines[i - 1].trim() == "#[cfg(test)]"
            && line.trim_start().starts_with("mod tests");
        if opens_tests {
            in_tests = true;
            kept.pop();
        }
        if in_tests {
            depth += line.matches('{').count();
            depth = depth.saturating_sub(line.matches('}').count());
            in_tests = depth > 0;
            continue;
        }
        kept.push(*line);
    }
    kept.join("\n")
}

fn ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Every path that starts at `prefix` (`crate::`, `super::`, `walk::`):
/// the segments after it, with `{a, b::c}` groups expanded.
fn paths_after(code: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(prefix) {
        let before = rest[..at].chars().last();
        rest = &rest[at + prefix.len()..];
        // `foo_walk::` is not `walk::`; `::walk::` is someone else's walk.
        if before.is_some_and(|c| ident(c) || c == ':') {
            continue;
        }
        let segments = |text: &str| -> Vec<String> {
            text.split("::")
                .map(|s| s.chars().take_while(|c| ident(*c)).collect::<String>())
                .take_while(|s| !s.is_empty())
                .collect()
        };
        let end = rest
            .find(|c: char| !ident(c) && c != ':')
            .unwrap_or(rest.len());
        let base = segments(&rest[..end]);
        // `crate::store::{walk, Cursor}` names `store::walk` and `store`.
        match rest[end..].strip_prefix('{') {
            Some(group) if rest[..end].is_empty() || rest[..end].ends_with("::") => {
                let group = &group[..group.find('}').unwrap_or(group.len())];
                for item in group.split(',') {
                    let mut path = base.clone();
                    path.extend(segments(item.trim()));
                    out.push(path);
                }
            }
            _ => out.push(base),
        }
    }
    out
}

/// The longest known module a path names.
fn module_of(path: &[String], known: &BTreeMap<String, PathBuf>) -> Option<String> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].join("::"))
        .find(|m| known.contains_key(m))
}

/// Which modules each module uses (itself and `crate` left out).
fn uses(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let known = modules(src);
    let mut graph = BTreeMap::new();
    for (module, path) in &known {
        let code = code(path);
        let here: Vec<String> = if module == "crate" {
            Vec::new()
        } else {
            module.split("::").map(str::to_string).collect()
        };
        let is_dir_module = path.file_stem().is_some_and(|s| s == "mod" || s == "lib");
        let mut used = BTreeSet::new();
        for path in paths_after(&code, "crate::") {
            used.extend(module_of(&path, &known));
        }
        // `super` of `store/walk.rs` is `store`; of `store/mod.rs`, `crate`.
        let parent_depth = if is_dir_module {
            here.len().saturating_sub(1)
        } else {
            here.len() - 1
        };
        for path in paths_after(&code, "super::") {
            let mut full = here[..parent_depth].to_vec();
            full.extend(path);
            used.extend(module_of(&full, &known));
        }
        // A directory module reaches its children without a prefix.
        if is_dir_module {
            for child in known.keys().filter_map(|k| {
                let rest = if here.is_empty() {
                    Some(k.as_str())
                } else {
                    k.strip_prefix(&format!("{}::", here.join("::")))
                };
                rest.filter(|r| !r.contains("::") && *r != "crate")
            }) {
                if !paths_after(&code, &format!("{child}::")).is_empty() {
                    let mut full = here.clone();
                    full.push(child.to_string());
                    used.insert(full.join("::"));
                }
            }
        }
        used.remove(module);
        used.remove("crate");
        graph.insert(module.clone(), used);
    }
    graph
}

/// A cycle through `start`, if there is one.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_string(), vec![start.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((node, trail)) = stack.pop() {
        for next in graph.get(&node).into_iter().flatten() {
            if next == start {
                let mut found = trail.clone();
                found.push(start.to_string());
                return Some(found);
            }
            if seen.insert(next.clone()) {
                let mut longer = trail.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

fn crate_src(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join(name)
        .join("src")
}

#[test]
fn no_module_uses_a_module_that_uses_it_back() {
    for krate in ["server", "app"] {
        let graph = uses(&crate_src(krate));
        assert!(graph.len() > 5, "{krate}: modules found: {graph:?}");
        for module in graph.keys() {
            if let Some(found) = cycle(&graph, module) {
                panic!("{krate}: a cycle of uses: {}", found.join(" -> "));
            }
        }
    }
}

/// The top-level module (layer) of a module path.
fn layer(module: &str) -> &str {
    module.split("::").next().unwrap()
}

#[test]
fn layers_use_only_the_layers_below_them() {
    // Adapters (cli, http) -> service -> store -> domain; config is read by
    // adapters; startup wires everything and only cli starts it.
    let allowed: BTreeMap<&str, &[&str]> = BTreeMap::from([
        ("domain", &[][..]),
        ("store", &["domain"][..]),
        ("service", &["store", "domain"][..]),
        ("http", &["service", "store", "domain", "config"][..]),
        ("notify", &["service", "store", "domain"][..]),
        (
            "cli",
            &["startup", "service", "store", "domain", "config"][..],
        ),
        ("config", &["domain"][..]),
        (
            "startup",
            &["http", "notify", "service", "store", "domain", "config"][..],
        ),
    ]);
    let graph = uses(&crate_src("server"));
    let mut wrong = Vec::new();
    for (module, used) in &graph {
        if module == "crate" {
            continue;
        }
        let from = layer(module);
        let may = allowed
            .get(from)
            .unwrap_or_else(|| panic!("module {module} is in no known layer"));
        for target in used {
            let to = layer(target);
            if to != from && !may.contains(&to) {
                wrong.push(format!("{module} uses {target}"));
            }
        }
    }
    assert!(wrong.is_empty(), "uses against the layering: {wrong:#?}");
    // The checker sees what it must: a known use is found.
    assert!(
        graph["service::commit"].contains("store::walk"),
        "{graph:#?}"
    );
    assert!(
        graph["store::embedded::writer"].contains("store::plan"),
        "{graph:#?}"
    );
}

#[test]
fn code_after_a_test_module_is_still_checked() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.rs");
    std::fs::write(
        &file,
        "use crate::a;\n#[cfg(test)]\nmod tests {\n    fn f() { if x {} }\n}\nuse crate::b;\n",
    )
    .unwrap();
    assert_eq!(code(&file), "use crate::a;\nuse crate::b;");
}
