//! Finds the `test_*` functions of scenario files, runs each in a fresh
//! world and reports like `cargo test`: one line per test, the failures with
//! their position and source line, then `N passed, N failed` (CI reads that
//! line).

use super::api::{self, Ctx};
use super::world::World;
use super::ScenarioError;
use crate::config::ServiceSettings;
use crate::host::ServicePaths;
use crate::script::{definition_of, snippet, Diagnostic, TestBudget};
use rhai::{CallFnOptions, Dynamic, Engine, EvalAltResult, Position, Scope, AST};
use std::cell::RefCell;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use tokio::runtime::Handle;

/// What to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The service directory (scripts' relative paths resolve against it).
    pub dir: PathBuf,
    /// The service's entry script for every file; otherwise a file's
    /// `// script: PATH` line (relative to `dir`), else `scripts/service.rhai`.
    pub script: Option<PathBuf>,
    /// Scenario files; empty: `dir/tests/scenarios/*.rhai`.
    pub files: Vec<PathBuf>,
    /// Only tests whose name contains this.
    pub filter: Option<String>,
}

/// The outcome of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    /// Scenario files that could not be read or compiled.
    pub broken: usize,
}

impl Summary {
    /// 2 when a scenario file does not compile, 1 when a test failed, else 0.
    pub fn exit_code(&self) -> u8 {
        if self.broken > 0 {
            2
        } else if self.failed > 0 {
            1
        } else {
            0
        }
    }
}

/// `dir/tests/scenarios/*.rhai`, sorted.
pub fn default_files(dir: &Path) -> Result<Vec<PathBuf>, ScenarioError> {
    let scenarios = dir.join("tests").join("scenarios");
    let entries = std::fs::read_dir(&scenarios).map_err(|source| ScenarioError::Read {
        path: scenarios.clone(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "rhai") && p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// The entry script a scenario names in a `// script: PATH` line among its
/// leading comments.
fn script_directive(source: &str) -> Option<PathBuf> {
    source
        .lines()
        .map(str::trim)
        .take_while(|l| l.is_empty() || l.starts_with("//"))
        .filter_map(|l| l.trim_start_matches('/').trim().strip_prefix("script:"))
        .map(|p| PathBuf::from(p.trim()))
        .next()
}

/// `test_*` functions without parameters, in the order of the file.
fn tests_in(ast: &AST, source: &str) -> Vec<String> {
    let mut tests: Vec<(usize, String)> = ast
        .iter_functions()
        .filter(|f| f.name.starts_with("test_") && f.params.is_empty())
        .map(|f| {
            let head = format!("fn {}", f.name);
            let at = source
                .match_indices(&head)
                .map(|(i, _)| i)
                .find(|i| {
                    let next = source[i + head.len()..].chars().next();
                    next.is_some_and(|c| c == '(' || c.is_whitespace())
                })
                .unwrap_or(usize::MAX);
            (at, f.name.to_string())
        })
        .collect();
    tests.sort();
    tests.into_iter().map(|(_, name)| name).collect()
}

/// The innermost position and message of a scenario error.
fn failure(err: &EvalAltResult, source: &str) -> (Position, String) {
    let mut e = err;
    while let EvalAltResult::ErrorInFunctionCall(_, _, inner, _) = e {
        e = inner;
    }
    let table = super::function_table();
    let callable = crate::script::names::Callable::scenario(&table);
    if let Some(message) = crate::script::explain_not_found(e, Some(source), callable) {
        return (e.position(), message);
    }
    let message = match e {
        EvalAltResult::ErrorRuntime(v, _) => v.to_string(),
        other => {
            let text = other.to_string();
            let suffix = format!(" ({})", other.position());
            text.strip_suffix(&suffix).unwrap_or(&text).to_string()
        }
    };
    (e.position(), message)
}

/// The engine the tests run on, and the service's config they run under.
struct TestEngine {
    engine: Engine,
    budget: TestBudget,
    settings: ServiceSettings,
}

struct Failure {
    name: String,
    report: String,
}

/// Runs every selected test, writing the report to `out`. Blocks: call it
/// from a thread that is not running async tasks, with a handle to a
/// multi-threaded runtime.
pub fn run(opts: &RunOptions, handle: Handle, out: &mut dyn Write) -> Summary {
    let mut summary = Summary::default();
    let files = if opts.files.is_empty() {
        match default_files(&opts.dir) {
            Ok(f) => f,
            Err(e) => {
                let _ = writeln!(out, "error: {e}");
                summary.broken += 1;
                return summary;
            }
        }
    } else {
        opts.files.clone()
    };
    let ctx = Rc::new(Ctx {
        handle: Some(handle),
        world: RefCell::new(None),
    });
    // The service's config as `run` applies it; its limits are its
    // handlers' and its tests' alike.
    let settings = match ServiceSettings::load(&opts.dir) {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(out, "error: {e}");
            summary.broken += 1;
            return summary;
        }
    };
    for warning in settings.warnings() {
        tracing::warn!("{warning}");
    }
    let mut engine = crate::script::syntax_engine();
    api::register(&mut engine, &ctx);
    let budget = TestBudget::apply(&mut engine, &settings.script_limits());
    let engine = TestEngine {
        engine,
        budget,
        settings,
    };
    let mut failures = Vec::new();
    for file in &files {
        run_file(opts, &engine, &ctx, file, out, &mut summary, &mut failures);
    }
    if !failures.is_empty() {
        let _ = writeln!(out, "\nfailures:");
        for f in &failures {
            let _ = writeln!(out, "\n---- {} ----\n{}", f.name, f.report);
        }
    }
    let _ = writeln!(
        out,
        "\n{} passed, {} failed",
        summary.passed, summary.failed
    );
    summary
}

fn run_file(
    opts: &RunOptions,
    engine: &TestEngine,
    ctx: &Rc<Ctx>,
    file: &Path,
    out: &mut dyn Write,
    summary: &mut Summary,
    failures: &mut Vec<Failure>,
) {
    let shown = file.strip_prefix(".").unwrap_or(file).display().to_string();
    let source = match std::fs::read_to_string(file) {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(out, "error: cannot read {shown}: {e}");
            summary.broken += 1;
            return;
        }
    };
    let ast = match engine.engine.compile(&source) {
        Ok(ast) => ast,
        Err(e) => {
            let d = Diagnostic::from_parse(&shown, &e);
            let _ = writeln!(out, "{}", snippet::render(&d, &source));
            summary.broken += 1;
            return;
        }
    };
    let script = opts
        .script
        .clone()
        .or_else(|| script_directive(&source).map(|p| opts.dir.join(p)));
    let mut paths = ServicePaths::in_dir(&opts.dir);
    if let Some(s) = script {
        paths.script = s;
    }
    let base = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| shown.clone());
    let tests: Vec<String> = tests_in(&ast, &source)
        .into_iter()
        .filter(|t| opts.filter.as_ref().is_none_or(|f| t.contains(f.as_str())))
        .collect();
    let plural = if tests.len() == 1 { "" } else { "s" };
    let _ = writeln!(out, "running {} test{plural} from {shown}", tests.len());
    for test in tests {
        let name = format!("{base}::{test}");
        let outcome = run_test(engine, ctx, &ast, &source, &paths, &test);
        match outcome {
            Ok(()) => {
                summary.passed += 1;
                let _ = writeln!(out, "test {name} ... ok");
            }
            Err((line, col, message)) => {
                summary.failed += 1;
                let _ = writeln!(out, "test {name} ... FAILED");
                let (first, rest) = message.split_once('\n').unwrap_or((&message, ""));
                let headline = format!("{shown}:{line}:{col}: {first}");
                let mut report = if line > 0 {
                    snippet::render_with(&headline, line, col, &source)
                } else {
                    first.to_string()
                };
                if !rest.is_empty() {
                    report = format!("{report}\n{rest}");
                }
                failures.push(Failure { name, report });
            }
        }
        let _ = out.flush();
    }
}

/// One test in a fresh world: `Err((line, col, message))` on failure (line 0
/// when the world could not be set up).
fn run_test(
    engine: &TestEngine,
    ctx: &Rc<Ctx>,
    ast: &AST,
    source: &str,
    paths: &ServicePaths,
    test: &str,
) -> Result<(), (usize, usize, String)> {
    let handle =
        ctx.handle
            .as_ref()
            .ok_or((0, 0, "no async runtime to run the test on".to_string()))?;
    let world = handle
        .block_on(World::start(paths.clone(), &engine.settings))
        .map_err(|e| (0, 0, format!("setting up the test failed: {e}")))?;
    let mut world = world;
    world.begin_test();
    *ctx.world.borrow_mut() = Some(world);
    let mut scope = Scope::new();
    engine.budget.start();
    let result = engine.engine.call_fn_with_options::<Dynamic>(
        CallFnOptions::new().eval_ast(true),
        &mut scope,
        ast,
        test,
        (),
    );
    engine.budget.clear();
    let Some(mut world) = ctx.world.borrow_mut().take() else {
        return Err((0, 0, "the test's world is gone".into()));
    };
    let errors = world.handler_errors();
    let (verdict, suffix) = (errors.verdict(), errors.report_suffix());
    handle.block_on(world.stop());
    match result {
        // The handler errors are most often why the test failed.
        Err(e) => {
            let (pos, mut message) = failure(&e, source);
            if let Some(why) = engine.budget.describe(&e) {
                message = format!("{test} {why}");
            }
            // A limit gives no position: the test that was running, then.
            let at = match pos.line() {
                Some(line) => Some((line, pos.position().unwrap_or(0))),
                None => definition_of(ast, test, 0),
            };
            let (line, col) = at.unwrap_or((0, 0));
            Err((line, col, format!("{message}{suffix}")))
        }
        Ok(_) => verdict.map_err(|message| (0, 0, message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_line_is_read_from_leading_comments() {
        let src = "// The meow example.\n// script: scripts/examples/meow.rhai\n\nfn test_a() {}";
        assert_eq!(
            script_directive(src),
            Some(PathBuf::from("scripts/examples/meow.rhai"))
        );
        assert_eq!(script_directive("fn a() {}\n// script: x.rhai"), None);
    }

    #[test]
    fn tests_come_in_file_order() {
        let src = "fn test_b() {}\nfn helper() {}\nfn test_a() {}\nfn test_c(x) {}";
        let ast = Engine::new().compile(src).unwrap();
        assert_eq!(tests_in(&ast, src), vec!["test_b", "test_a"]);
    }
}
