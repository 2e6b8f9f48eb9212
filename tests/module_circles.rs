//! No import circle inside `src/host/` or `src/cluster/`: if file A uses
//! something of file B, nothing B uses leads back to A.
//!
//! A circle is how a layout loses its shape: two files that need each other
//! are one file in two places, and which one to read first stops being a
//! question with an answer. The test reads the source, not the compiler:
//! every `use` line and every path written `crate::…`, `super::…` or
//! `self::…` in a file (outside its `#[cfg(test)]` module and comments) is
//! an edge to the deepest module of the crate the path names. A parent
//! re-exporting (`pub use`) its own children is the shape of a module, not
//! a dependency, and is not counted. The test also fails when `src/cluster/`
//! uses anything of `src/host/` (the cluster is a library the host uses).

use std::collections::{BTreeMap, BTreeSet};

mod docs_support;
use docs_support::{read, relative, root, walk};

/// The trees checked.
const TREES: [&str; 2] = ["host", "cluster"];

/// Where each reference was seen: (from, to) -> "file:line".
type Edges = BTreeMap<(String, String), String>;

/// `src/host/threads/executor.rs` -> `host::threads::executor`;
/// `src/host/threads/mod.rs` -> `host::threads`.
fn module_of(path: &str) -> String {
    let inner = path.trim_start_matches("src/").trim_end_matches(".rs");
    let inner = inner.strip_suffix("/mod").unwrap_or(inner);
    inner.replace('/', "::")
}

/// Every module of the crate, from `src/`.
fn crate_modules() -> BTreeSet<String> {
    let mut files = Vec::new();
    walk(&root().join("src"), &mut files, None);
    files
        .iter()
        .map(|p| relative(p))
        .filter(|p| p.ends_with(".rs"))
        .map(|p| module_of(&p))
        .collect()
}

/// The file's text before its test module, without comment lines.
fn code_lines(text: &str) -> Vec<(usize, &str)> {
    text.lines()
        .enumerate()
        .take_while(|(_, l)| !l.trim_start().starts_with("#[cfg(test)]"))
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
        .map(|(i, l)| (i + 1, l))
        .collect()
}

/// `a::{b, c::{d, e}}` -> `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    let tree: String = tree.split_whitespace().collect();
    let Some(open) = tree.find('{') else {
        return vec![tree.split(" as ").next().unwrap_or(&tree).to_string()];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.len().saturating_sub(1)];
    let (mut parts, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| expand(&format!("{prefix}{p}")))
        .collect()
}

/// The deepest module `path` (as written in module `from`) names, if it is
/// a module of the crate.
fn resolve(
    path: &str,
    from: &str,
    is_dir_module: bool,
    modules: &BTreeSet<String>,
) -> Option<String> {
    let segments: Vec<&str> = path
        .split("::")
        .map(|s| s.split(" as ").next().unwrap_or(s))
        .filter(|s| !s.is_empty())
        .collect();
    let here: Vec<&str> = from.split("::").collect();
    // The module `super` and `self` start from: a file's own module is
    // `from`, and `super` is its parent.
    let (mut base, rest): (Vec<&str>, &[&str]) = match segments.first().copied()? {
        "crate" => (Vec::new(), &segments[1..]),
        "self" => (here.clone(), &segments[1..]),
        "super" => {
            let mut b = here.clone();
            let mut i = 0;
            while segments.get(i) == Some(&"super") {
                b.pop();
                i += 1;
            }
            (b, &segments[i..])
        }
        // A relative `use child::x` from a directory module.
        first if is_dir_module && modules.contains(&format!("{from}::{first}")) => {
            (here.clone(), &segments[..])
        }
        _ => return None,
    };
    let mut found = None;
    for s in rest {
        base.push(s);
        let candidate = base.join("::");
        if modules.contains(&candidate) {
            found = Some(candidate);
        } else {
            break;
        }
    }
    found
}

/// A `use` line's tree, and whether it re-exports (`pub use`).
fn use_tree(line: &str) -> Option<(bool, &str)> {
    if let Some(tree) = line.strip_prefix("use ") {
        return Some((false, tree));
    }
    let rest = line.strip_prefix("pub")?;
    let rest = match rest.strip_prefix('(') {
        Some(r) => &r[r.find(')')? + 1..],
        None => rest,
    };
    rest.trim_start()
        .strip_prefix("use ")
        .map(|tree| (true, tree))
}

fn is_path_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == ':'
}

/// The paths a file names: its `use` trees expanded (with their line and
/// whether they re-export), and the paths written inline.
fn references(lines: &[(usize, &str)]) -> Vec<(usize, bool, String)> {
    let mut refs = Vec::new();
    let mut pending: Option<(usize, bool, String)> = None;
    for &(n, line) in lines {
        let t = line.trim();
        let (start, reexport, text) = match pending.take() {
            Some((start, reexport, text)) => (start, reexport, text + t),
            None => match use_tree(t) {
                Some((reexport, tree)) => (n, reexport, tree.to_string()),
                None => {
                    refs.extend(inline_paths(t).map(|p| (n, false, p)));
                    continue;
                }
            },
        };
        match text.strip_suffix(';') {
            Some(tree) => refs.extend(expand(tree).into_iter().map(|p| (start, reexport, p))),
            None => pending = Some((start, reexport, text)),
        }
    }
    refs
}

/// `crate::…`, `super::…` and `self::…` paths written in a line of code.
fn inline_paths(line: &str) -> impl Iterator<Item = String> + '_ {
    ["crate::", "super::", "self::"]
        .into_iter()
        .flat_map(move |key| {
            line.match_indices(key)
                .filter(|(i, _)| !line[..*i].ends_with(is_path_char))
                .map(|(i, _)| line[i..].chars().take_while(|c| is_path_char(*c)).collect())
                .collect::<Vec<String>>()
        })
}

/// Every edge between modules of the checked trees, with where it was seen.
fn edges(modules: &BTreeSet<String>) -> Edges {
    let mut edges = Edges::new();
    for tree in TREES {
        let mut files = Vec::new();
        walk(&root().join("src").join(tree), &mut files, None);
        for file in files
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "rs"))
        {
            let rel = relative(file);
            let from = module_of(&rel);
            let is_dir = file.file_name().is_some_and(|n| n == "mod.rs");
            let text = read(file);
            for (line, reexport, path) in references(&code_lines(&text)) {
                let Some(to) = resolve(&path, &from, is_dir, modules) else {
                    continue;
                };
                let own_child = to.starts_with(&format!("{from}::"));
                let checked = TREES
                    .iter()
                    .any(|t| to == *t || to.starts_with(&format!("{t}::")));
                if to == from || !checked || (reexport && own_child) {
                    continue;
                }
                edges
                    .entry((from.clone(), to))
                    .or_insert(format!("{rel}:{line}"));
            }
        }
    }
    edges
}

/// The strongly connected groups of more than one module (Tarjan).
fn circles(edges: &Edges) -> Vec<Vec<String>> {
    struct Tarjan<'a> {
        next: BTreeMap<&'a str, Vec<&'a str>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        groups: Vec<Vec<String>>,
    }
    impl<'a> Tarjan<'a> {
        fn visit(&mut self, v: &'a str) {
            let i = self.index.len();
            self.index.insert(v, i);
            self.low.insert(v, i);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.next.get(v).cloned().unwrap_or_default() {
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let l = self.low[v].min(self.low[w]);
                    self.low.insert(v, l);
                } else if self.on_stack.contains(w) {
                    let l = self.low[v].min(self.index[w]);
                    self.low.insert(v, l);
                }
            }
            if self.low[v] == self.index[v] {
                let mut group = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    group.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if group.len() > 1 {
                    group.sort();
                    self.groups.push(group);
                }
            }
        }
    }
    let mut t = Tarjan {
        next: BTreeMap::new(),
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        groups: Vec::new(),
    };
    for (from, to) in edges.keys() {
        t.next.entry(from.as_str()).or_default().push(to.as_str());
    }
    let nodes: Vec<&str> = t.next.keys().copied().collect();
    for v in nodes {
        if !t.index.contains_key(v) {
            t.visit(v);
        }
    }
    t.groups
}

#[test]
fn no_import_circle_in_the_host_or_the_cluster() {
    let modules = crate_modules();
    let edges = edges(&modules);
    let found = circles(&edges);
    let report: Vec<String> = found
        .iter()
        .map(|group| {
            let inside: Vec<String> = edges
                .iter()
                .filter(|((f, t), _)| group.contains(f) && group.contains(t))
                .map(|((f, t), at)| format!("    {f} -> {t}  ({at})"))
                .collect();
            format!("  {}\n{}", group.join(", "), inside.join("\n"))
        })
        .collect();
    assert!(
        found.is_empty(),
        "import circles (each group's modules reach each other; the uses inside it):\n{}",
        report.join("\n")
    );
}

#[test]
fn the_cluster_uses_nothing_of_the_host() {
    let modules = crate_modules();
    let wrong: Vec<String> = edges(&modules)
        .into_iter()
        .filter(|((f, t), _)| f.starts_with("cluster") && t.starts_with("host"))
        .map(|((f, t), at)| format!("  {f} -> {t}  ({at})"))
        .collect();
    assert!(
        wrong.is_empty(),
        "src/cluster/ uses src/host/:\n{}",
        wrong.join("\n")
    );
}

/// The reader itself: the circles test is only as good as what it sees.
#[test]
fn the_reader_sees_use_trees_inline_paths_and_relative_children() {
    let modules: BTreeSet<String> = ["host", "host::a", "host::b", "host::b::c", "host::d"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let text = "use super::{a, b::{c::X, Y}};\nfn f() { crate::host::d::g(); }\n// crate::host::a::h\nuse c::Z;\n";
    let lines = code_lines(text);
    let seen: BTreeSet<String> = references(&lines)
        .into_iter()
        .filter_map(|(_, _, p)| resolve(&p, "host::b", true, &modules))
        .collect();
    let want: BTreeSet<String> = ["host::a", "host::b::c", "host::b", "host::d"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(seen, want);
    let edges: Edges = [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]
        .iter()
        .map(|(f, t)| ((f.to_string(), t.to_string()), String::new()))
        .collect();
    assert_eq!(
        circles(&edges),
        vec![vec!["a".to_string(), "b".into(), "c".into()]]
    );
}
