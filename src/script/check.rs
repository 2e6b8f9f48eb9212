//! Compiles a whole service without running it: the entry with its imports
//! exactly as the host would (so a `check` that passes means `run` compiles),
//! then every other `.rhai` under `scripts/` for syntax, and lints them all;
//! then the scenario tests under `tests/scenarios/` (which `bundle pack`
//! compiles too), for syntax and their calls to their own functions.
//! No network: host functions are there only to be named.

use super::names::Callable;
use super::{
    lint, lint_callbacks, lint_names, snippet, CompileOptions, Diagnostic, NoHost, ServiceScript,
};
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// One finding, rendered with its source line when the file is readable.
#[derive(Debug, Clone)]
pub struct Finding {
    pub diagnostic: Diagnostic,
    pub is_error: bool,
    /// `path:line:col: message`, the source line and a caret.
    pub rendered: String,
}

/// What `check` found in a service directory.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    pub files: usize,
    pub findings: Vec<Finding>,
}

impl CheckReport {
    pub fn errors(&self) -> usize {
        self.findings.iter().filter(|f| f.is_error).count()
    }

    pub fn warnings(&self) -> usize {
        self.findings.len() - self.errors()
    }
}

fn rhai_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            rhai_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rhai") {
            out.push(p);
        }
    }
}

fn finding(dir: &Path, diagnostic: Diagnostic, is_error: bool) -> Finding {
    let source = std::fs::read_to_string(dir.join(&diagnostic.path)).unwrap_or_default();
    Finding {
        rendered: snippet::render(&diagnostic, &source),
        diagnostic,
        is_error,
    }
}

/// The store names `DIR/config/config.json`'s `db_config` lists, when it
/// has one (a config that does not load is `run`'s to report).
fn configured_stores(dir: &Path) -> Option<Vec<String>> {
    let file = dir.join("config").join("config.json");
    let text = std::fs::read_to_string(&file).ok()?;
    let root: serde_json::Value = serde_json::from_str(&text).ok()?;
    let value = root.get("db_config")?;
    let config = crate::store::parse_db_config(&file, dir, Some(value)).ok()?;
    Some(config.stores.iter().map(|s| s.name.clone()).collect())
}

/// `DIR/config/config.json`'s `script_limits` when the config loads (so
/// that `check` keeps the compile bound `run` keeps), else the defaults.
pub fn configured_limits(dir: &Path) -> super::ScriptLimits {
    crate::config::ServiceSettings::load(dir)
        .map(|s| s.script_limits())
        .unwrap_or_default()
}

/// Checks the service in `dir` whose entry script is `entry`, and its
/// scenario tests; `scenario_functions` are the functions a scenario may
/// call, with their argument counts (`scenario::function_table`).
pub fn check_service(
    dir: &Path,
    entry: &Path,
    scenario_functions: &[(String, Vec<usize>)],
) -> CheckReport {
    let mut report = CheckReport::default();
    let mut opts = CompileOptions::for_main(entry).with_display_base(dir);
    opts.limits = configured_limits(dir);
    let stores = configured_stores(dir);
    let mut done: Vec<PathBuf> = Vec::new();
    let mut over_bound = false;
    match ServiceScript::load(&opts, Rc::new(NoHost)) {
        Ok(script) => done.extend(script.files().iter().cloned()),
        Err(d) => {
            over_bound = super::compile::is_over_bound(&d);
            done.push(entry.to_path_buf());
            report.findings.push(finding(dir, d, true));
        }
    }
    let mut others = Vec::new();
    rhai_files(&dir.join("scripts"), &mut others);
    // The host's parse limits, so that what passes here compiles there.
    let engine = super::syntax_engine();
    let same = |a: &Path, b: &Path| a == b || a.canonicalize().ok() == b.canonicalize().ok();
    let mut all: Vec<PathBuf> = done.clone();
    all.extend(
        others
            .into_iter()
            .filter(|p| !done.iter().any(|d| same(d, p))),
    );
    // Each file's findings, in file order; warnings once all are compiled.
    let mut per_file: Vec<Vec<Finding>> = vec![Vec::new(); all.len()];
    let mut compiled = Vec::new();
    for (i, file) in all.iter().enumerate() {
        let shown = opts.display(file);
        let source = match super::size::read_script(file, &shown) {
            Ok(source) => source,
            // The entry's errors were reported by the full compile.
            Err(_) if i == 0 && report.errors() > 0 => continue,
            Err(d) if d.message.starts_with("cannot read") => continue,
            Err(d) => {
                report.files += 1;
                // Already reported when the service was compiled.
                if !report.findings.iter().any(|f| f.diagnostic == d) {
                    per_file[i].push(finding(dir, d, true));
                }
                continue;
            }
        };
        report.files += 1;
        if i == 0 && over_bound {
            // No second, unbounded parse for the lint.
            continue;
        }
        match engine.compile(&source) {
            Ok(ast) => compiled.push((i, shown, source, ast)),
            // The entry's errors were reported by the full compile.
            Err(_) if i == 0 && report.errors() > 0 => {}
            Err(e) => {
                let d = Diagnostic::from_parse(&shown, &e);
                per_file[i].push(finding(dir, d, true));
            }
        }
    }
    lint_compiled(dir, &compiled, stores.as_deref(), &mut per_file);
    report.findings.extend(per_file.into_iter().flatten());
    check_scenarios(dir, &opts, scenario_functions, &mut report);
    report
}

/// The warnings for the compiled files of a service, `(index, shown path,
/// source, AST)` each, added to `per_file[index]`; the file at index 0 is
/// the entry.
fn lint_compiled(
    dir: &Path,
    compiled: &[(usize, String, String, rhai::AST)],
    stores: Option<&[String]>,
    per_file: &mut [Vec<Finding>],
) {
    // A module's functions may call the entry's (Rhai looks there too), and
    // any file here may be some entry's module: every function of the
    // service's scripts is known in a file that is not the entry.
    let mut script_functions: Vec<String> = compiled
        .iter()
        .flat_map(|(_, _, _, ast)| super::names::own_functions(ast))
        .collect();
    script_functions.sort();
    script_functions.dedup();
    // A timer's or a request's callback may be any of them (entry or module).
    let callbacks: Vec<lint_callbacks::ScriptFn> = compiled
        .iter()
        .flat_map(|(_, _, _, ast)| lint_callbacks::script_functions(ast))
        .collect();
    for (i, shown, source, ast) in compiled {
        let mut found = lint::lint_with_stores(ast, shown, source, stores);
        found.extend(lint_callbacks::lint_callbacks(ast, shown, &callbacks));
        let others: &[String] = if *i == 0 { &[] } else { &script_functions };
        let callable = Callable::service().with_script_functions(others);
        found.extend(lint_names::lint_unknown_calls(ast, shown, callable));
        found.sort_by_key(|d| (d.line, d.col));
        per_file[*i].extend(found.into_iter().map(|w| finding(dir, w, false)));
    }
}

/// Compiles and lints `dir/tests/scenarios/**.rhai`.
fn check_scenarios(
    dir: &Path,
    opts: &CompileOptions,
    functions: &[(String, Vec<usize>)],
    report: &mut CheckReport,
) {
    let mut files = Vec::new();
    rhai_files(&dir.join("tests").join("scenarios"), &mut files);
    let engine = super::syntax_engine();
    for file in files {
        let shown = opts.display(&file);
        report.files += 1;
        let found = super::size::read_script(&file, &shown).and_then(|source| {
            engine
                .compile(&source)
                .map_err(|e| Diagnostic::from_parse(&shown, &e))
        });
        match found {
            Ok(ast) => {
                let callable = Callable::scenario(functions);
                let mut found = super::lint_calls::lint_own_calls(&ast, &shown, functions);
                found.extend(lint_names::lint_unknown_calls(&ast, &shown, callable));
                found.sort_by_key(|d| (d.line, d.col));
                for w in found {
                    report.findings.push(finding(dir, w, false));
                }
            }
            Err(d) => report.findings.push(finding(dir, d, true)),
        }
    }
}
