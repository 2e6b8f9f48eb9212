//! Keeps the documents in `docs/` in step with the tree. No network, no build
//! products: these tests only read files of the repository.
//!
//! - **Code map.** Every module under `src/` (every directory and every `.rs`
//!   file, recursively) is named in the code map of `docs/ARCHITECTURE.md`,
//!   the section from its `## Code map` heading to the next `## ` heading.
//!   The rule: a module is named when the code map contains its path from
//!   the repository root in backticks, `src/host/bridge/mod.rs` for a file and
//!   `src/host/` (or `src/host`) for a directory. A Rust path such as
//!   `host::bridge`, or a path outside backticks, does not count. Conversely,
//!   every `src/` path the code map names in backticks must exist, so a
//!   renamed or deleted module cannot linger there.
//! - **Documents exist.** Every mention of an upper-case `.md` document (a
//!   file name of capital letters and underscores, with an optional path in
//!   front) in a file under `src/`, `tests/` or `docs/`, or in `README.md`,
//!   names a file of the repository: the path as written, taken from the
//!   repository root or from the mentioning file's directory, and not
//!   leaving the repository.
//! - **Protocol sections exist.** Wherever those files cite
//!   `docs/PROTOCOL.md` followed, on the same line, by a section number (or
//!   a list of them, joined by `, ` or ` and `), each number is a numbered
//!   heading of `docs/PROTOCOL.md`.
//!
//! The README's index and the links between the pages are checked in
//! `tests/doc_links.rs`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

mod docs_support;
use docs_support::{read, relative, root, walk};

const ARCHITECTURE: &str = "docs/ARCHITECTURE.md";
const PROTOCOL: &str = "docs/PROTOCOL.md";

/// The modules under `src/`: every directory and every `.rs` file.
fn src_modules() -> Vec<String> {
    let (mut files, mut dirs) = (Vec::new(), Vec::new());
    walk(&root().join("src"), &mut files, Some(&mut dirs));
    let rs = files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "rs"));
    dirs.iter().chain(rs).map(|p| relative(p)).collect()
}

/// The lines of `## Code map` in docs/ARCHITECTURE.md, up to the next `## `.
fn code_map() -> String {
    let text = read(&root().join(ARCHITECTURE));
    let mut lines = text.lines().skip_while(|l| !l.starts_with("## Code map"));
    let heading = lines.next();
    assert!(
        heading.is_some(),
        "{ARCHITECTURE} has no `## Code map` section"
    );
    lines
        .take_while(|l| !l.starts_with("## "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// What the code map names in backticks, trailing `/` removed.
fn code_map_names() -> BTreeSet<String> {
    code_map()
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|span| span.trim().trim_end_matches('/').to_string())
        .collect()
}

#[test]
fn every_module_is_in_the_code_map() {
    let named = code_map_names();
    let missing: Vec<String> = src_modules()
        .into_iter()
        .filter(|m| !named.contains(m))
        .collect();
    assert!(
        missing.is_empty(),
        "{ARCHITECTURE}'s code map does not name these modules (write each path \
         from the repository root in backticks, a directory as `src/x/`):\n  {}",
        missing.join("\n  ")
    );
}

#[test]
fn the_code_map_names_only_existing_paths() {
    let stale: Vec<String> = code_map_names()
        .into_iter()
        .filter(|name| name.starts_with("src/") && !root().join(name).exists())
        .collect();
    assert!(
        stale.is_empty(),
        "{ARCHITECTURE}'s code map names paths that do not exist:\n  {}",
        stale.join("\n  ")
    );
}

/// The files whose references are checked: everything under `src/`,
/// `tests/` and `docs/`, and `README.md`.
fn referencing_files() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md")];
    for dir in ["src", "tests", "docs"] {
        walk(&root().join(dir), &mut files, None);
    }
    files
}

fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-')
}

/// The upper-case `.md` documents a line mentions, with any path in front.
fn md_mentions(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (at, _) in line.match_indices(".md") {
        let end = at + ".md".len();
        if line[end..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
            continue; // `.mdx`, `.md_old`: not a document name
        }
        let start = line[..at]
            .char_indices()
            .rev()
            .take_while(|&(_, c)| is_path_char(c))
            .last()
            .map_or(at, |(i, _)| i);
        if line[..start].ends_with(':') {
            continue; // a URL
        }
        let mention = &line[start..end];
        let stem = mention
            .rsplit('/')
            .next()
            .unwrap_or(mention)
            .trim_end_matches(".md");
        if !stem.is_empty() && stem.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
            found.push(mention.to_string());
        }
    }
    found
}

/// Whether `mention` names a file inside the repository, from the root or
/// from `dir`.
fn resolves(mention: &str, dir: &Path) -> bool {
    let root = root().canonicalize().expect("the repository root exists");
    let rel = mention.trim_start_matches('/');
    [root.join(rel), dir.join(rel)].iter().any(|candidate| {
        candidate
            .canonicalize()
            .is_ok_and(|real| real.starts_with(&root) && real.is_file())
    })
}

#[test]
fn every_mentioned_document_exists() {
    let mut missing = Vec::new();
    for file in referencing_files() {
        let dir = file.parent().expect("a file has a directory");
        for (n, line) in read(&file).lines().enumerate() {
            for mention in md_mentions(line) {
                if !resolves(&mention, dir) {
                    missing.push(format!("{}:{}: {mention}", relative(&file), n + 1));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "these documents are not in the repository (name them by their path, \
         e.g. {PROTOCOL}):\n  {}",
        missing.join("\n  ")
    );
}

/// The section numbers of docs/PROTOCOL.md's headings (`## 3. WebSocket`,
/// `#### 3.4.2 Key sets`), outside code blocks.
fn protocol_sections() -> BTreeSet<String> {
    let mut in_code = false;
    let mut sections = BTreeSet::new();
    for line in read(&root().join(PROTOCOL)).lines() {
        if line.starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code || !line.starts_with('#') {
            continue;
        }
        let title = line.trim_start_matches('#').trim_start();
        let number = title
            .split_whitespace()
            .next()
            .unwrap_or("")
            .trim_end_matches('.');
        if is_section_number(number) {
            sections.insert(number.to_string());
        }
    }
    sections
}

fn is_section_number(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_digit()))
}

/// The section numbers cited right after a `docs/PROTOCOL.md` mention:
/// ` 3.2`, ` 2.4, 2.5`, ` 2.4 and 2.5`; a trailing full stop is not part of
/// a number.
fn cited_sections(after: &str) -> Vec<String> {
    let mut cited = Vec::new();
    let mut rest = match after.strip_prefix(' ') {
        Some(rest) => rest,
        None => return cited,
    };
    loop {
        let len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = rest[..len].trim_end_matches('.');
        if !is_section_number(number) {
            break;
        }
        cited.push(number.to_string());
        let tail = &rest[len..];
        match tail
            .strip_prefix(", ")
            .or_else(|| tail.strip_prefix(" and "))
        {
            Some(next) => rest = next,
            None => break,
        }
    }
    cited
}

#[test]
fn every_cited_protocol_section_exists() {
    let sections = protocol_sections();
    assert!(
        sections.len() > 10,
        "{PROTOCOL} should have numbered headings, found {sections:?}"
    );
    let mut unknown = Vec::new();
    let mut cited = 0;
    for file in referencing_files() {
        for (n, line) in read(&file).lines().enumerate() {
            for (at, _) in line.match_indices(PROTOCOL) {
                for number in cited_sections(&line[at + PROTOCOL.len()..]) {
                    cited += 1;
                    if !sections.contains(&number) {
                        unknown.push(format!("{}:{}: {number}", relative(&file), n + 1));
                    }
                }
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "these citations name no heading of {PROTOCOL}:\n  {}",
        unknown.join("\n  ")
    );
    assert!(cited > 0, "no file cites a section of {PROTOCOL}");
}

#[test]
fn the_checks_parse_what_they_should() {
    assert_eq!(
        md_mentions("see docs/PROTOCOL.md 2.4, `bench/RESULTS.md`, notes.md"),
        ["docs/PROTOCOL.md", "bench/RESULTS.md"]
    );
    assert_eq!(md_mentions("concat!(x, \"/README.md\")"), ["/README.md"]);
    // Built at run time, so that no tool grepping the sources takes this
    // example URL for a reference to a missing document.
    let url = format!("https://example.org/{}.md and a.mdx", "CHANGES");
    assert!(md_mentions(&url).is_empty());
    assert_eq!(cited_sections(" 5.2 step 6"), ["5.2"]);
    assert_eq!(cited_sections(" 2.4, 2.5)."), ["2.4", "2.5"]);
    assert_eq!(cited_sections(" 2.4 and 3.4.2."), ["2.4", "3.4.2"]);
    assert_eq!(cited_sections(" 9."), ["9"]);
    assert!(cited_sections(") describes").is_empty());
    assert!(cited_sections(", 3.2").is_empty());
    assert!(is_section_number("3.4.2") && !is_section_number("3..4") && !is_section_number(""));
}
