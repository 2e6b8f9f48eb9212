//! Keeps the links between the project's pages true. No network, no build
//! products: these tests only read files of the repository.
//!
//! - **The README's index.** The `## Documentation` section of `README.md`
//!   links every `.md` page under `docs/` and `bench/RESULTS.md`, so that a
//!   newcomer reaches every page from the front door.
//! - **Links resolve.** Every relative Markdown link (`[text](target)`,
//!   images too) in `README.md`, `docs/*.md` and `bench/RESULTS.md`, outside
//!   code, names a file of the repository (from the linking file's
//!   directory), and its `#anchor`, if any, is the slug of a heading of the
//!   target (GitHub's rule: lower case, punctuation other than `-` and `_`
//!   dropped, spaces turned into `-`, `-1`, `-2`... for repeats).

use std::collections::BTreeSet;
use std::path::PathBuf;

mod docs_support;
use docs_support::{read, relative, root, walk};

/// The Markdown pages whose links are checked: `README.md`, every `.md`
/// under `docs/`, and `bench/RESULTS.md`.
fn linking_pages() -> Vec<PathBuf> {
    let mut files = Vec::new();
    walk(&root().join("docs"), &mut files, None);
    files.retain(|f| f.extension().is_some_and(|e| e == "md"));
    files.insert(0, root().join("README.md"));
    files.push(root().join("bench/RESULTS.md"));
    files
}

/// The lines of `text` outside fenced code blocks, with their numbers.
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut in_code = false;
    let mut lines = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if !in_code {
            lines.push((n + 1, line));
        }
    }
    lines
}

/// GitHub's anchor for a heading's text.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|&c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a Markdown text's headings, repeats numbered as GitHub
/// numbers them.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (_, line) in prose_lines(text) {
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if hashes == 0 || hashes > 6 || !line[hashes..].starts_with(' ') {
            continue;
        }
        let base = slug(line[hashes..].trim_end_matches('#'));
        let mut anchor = base.clone();
        let mut n = 0;
        while found.contains(&anchor) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
        found.insert(anchor);
    }
    found
}

/// The targets of the inline links of a line (`[text](target)`), outside
/// code spans.
fn link_targets(line: &str) -> Vec<String> {
    let mut targets = Vec::new();
    for (at, _) in line.match_indices("](") {
        if line[..at].matches('`').count() % 2 == 1 {
            continue; // inside a code span
        }
        let rest = &line[at + 2..];
        if let Some(end) = rest.find(')') {
            let target = rest[..end].split_whitespace().next().unwrap_or("");
            targets.push(target.to_string());
        }
    }
    targets
}

fn is_url(target: &str) -> bool {
    target.contains("://") || target.starts_with("mailto:")
}

#[test]
fn every_relative_link_and_anchor_resolves() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for page in linking_pages() {
        let text = read(&page);
        let dir = page.parent().expect("a file has a directory");
        for (n, line) in prose_lines(&text) {
            for target in link_targets(line) {
                if target.is_empty() || is_url(&target) {
                    continue;
                }
                checked += 1;
                let at = format!("{}:{n}: {target}", relative(&page));
                let (path, anchor) = match target.split_once('#') {
                    Some((path, anchor)) => (path, Some(anchor)),
                    None => (target.as_str(), None),
                };
                let file = if path.is_empty() {
                    page.clone()
                } else {
                    dir.join(path)
                };
                let root = root().canonicalize().expect("the repository root exists");
                let Some(real) = file.canonicalize().ok().filter(|r| r.starts_with(&root)) else {
                    broken.push(format!("{at} (no such file in the repository)"));
                    continue;
                };
                if let Some(anchor) = anchor {
                    if !real.is_file() || !anchors(&read(&real)).contains(anchor) {
                        broken.push(format!("{at} (no heading with that anchor)"));
                    }
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "these links lead nowhere (a relative path from the linking file, and \
         `#anchor` the slug of a heading there):\n  {}",
        broken.join("\n  ")
    );
    assert!(checked > 20, "only {checked} relative links found");
}

#[test]
fn the_readme_index_links_every_page() {
    let readme = read(&root().join("README.md"));
    let mut lines = readme
        .lines()
        .skip_while(|l| !l.starts_with("## Documentation"));
    assert!(
        lines.next().is_some(),
        "README.md has no `## Documentation` section"
    );
    let linked: BTreeSet<String> = lines
        .take_while(|l| !l.starts_with("## "))
        .flat_map(link_targets)
        .map(|t| t.split('#').next().unwrap_or("").to_string())
        .collect();
    let mut pages = Vec::new();
    walk(&root().join("docs"), &mut pages, None);
    let mut pages: Vec<String> = pages
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "md"))
        .map(|f| relative(f))
        .collect();
    pages.push("bench/RESULTS.md".to_string());
    let missing: Vec<&String> = pages.iter().filter(|p| !linked.contains(*p)).collect();
    assert!(
        missing.is_empty(),
        "README.md's `## Documentation` index does not link these pages \
         (one line each, saying what the page is for): {missing:?}"
    );
}

#[test]
fn the_link_checks_parse_what_they_should() {
    assert_eq!(
        slug("Scenario tests: `moobius-host test`"),
        "scenario-tests-moobius-host-test"
    );
    assert_eq!(
        slug("The service id, unknown keys and the SDK's loader"),
        "the-service-id-unknown-keys-and-the-sdks-loader"
    );
    assert_eq!(slug("Stores: `db_config`"), "stores-db_config");
    let doc = "# A\n## Tests\n```\n## Not a heading\n```\n## Tests\n#hashtag\n";
    let found = anchors(doc);
    assert!(found.contains("a") && found.contains("tests") && found.contains("tests-1"));
    assert!(!found.contains("not-a-heading") && !found.contains("hashtag"));
    assert_eq!(
        link_targets(
            r#"see [docs/CONFIG.md, "`x`"](docs/CONFIG.md#x) and ![p](p.png) but `[a](b)`"#
        ),
        ["docs/CONFIG.md#x", "p.png"]
    );
    assert!(is_url("https://moobius.ai") && !is_url("../README.md#tests"));
}
