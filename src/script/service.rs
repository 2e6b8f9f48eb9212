//! A compiled service and its state: the one place handlers are called.
//!
//! `this` is a Rhai map the host keeps across events, bound to every handler
//! call as its `this` pointer (no copy). Defined handlers are found once per
//! compile, so an event for a handler the script lacks costs a set lookup.

use super::compile::{self, Compiled, Shipped};
use super::limits::{self, Deadline, ScriptLimits};
use super::names::Callable;
use super::resolver::{ImportRefusal, ScriptsResolver};
use super::{api, character, id_list, Diagnostic, HostApi, HANDLERS};
use rhai::{CallFnOptions, Dynamic, Engine, Map, Scope, Stmt, AST};
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// How a handler call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandlerFailure {
    /// A limit stopped it: operations, time, call depth, a value's size, or
    /// the output budget a host function ran out.
    Limit,
    /// A host function could not do what it was asked (the platform or the
    /// store failed, or the host refused), and the script did not catch it.
    HostCall,
    /// The script's own error: a `throw`, a type mismatch, an argument a
    /// host function rejected, a missing function...
    Script,
}

/// A handler call that failed: how, and the line that tells the author.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{diagnostic}")]
pub struct HandlerError {
    pub failure: HandlerFailure,
    pub diagnostic: Diagnostic,
}

#[derive(Debug, Clone)]
pub struct CompileOptions {
    /// The entry script, e.g. `scripts/service.rhai`.
    pub main: PathBuf,
    /// Imports resolve here and may not leave it (default: the entry's directory).
    pub scripts_dir: PathBuf,
    /// How paths are shown in diagnostics (relative to the service directory).
    pub display_base: Option<PathBuf>,
    /// Per-handler limits.
    pub limits: ScriptLimits,
    /// The same, resolved, for paths that arrive absolute (file events).
    display_base_real: Option<PathBuf>,
}

impl CompileOptions {
    pub fn for_main(main: &Path) -> Self {
        let scripts_dir = main
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        CompileOptions {
            main: main.to_path_buf(),
            scripts_dir,
            display_base: None,
            display_base_real: None,
            limits: ScriptLimits::default(),
        }
    }

    /// Shows paths relative to `base` (the service directory).
    pub fn with_display_base(mut self, base: &Path) -> Self {
        self.display_base = Some(base.to_path_buf());
        self.display_base_real = base.canonicalize().ok();
        self
    }

    /// The same options (limits and all) for a service that now lives
    /// elsewhere: a swapped bundle's private directory.
    pub fn relocated(&self, main: &Path, base: &Path) -> Self {
        let fresh = CompileOptions::for_main(main).with_display_base(base);
        let mut moved = self.clone();
        moved.main = fresh.main;
        moved.scripts_dir = fresh.scripts_dir;
        moved.display_base = fresh.display_base;
        moved.display_base_real = fresh.display_base_real;
        moved
    }

    /// A diagnostic with its source line and caret, as `check` prints it
    /// (the headline alone when the file cannot be read).
    pub fn framed(&self, d: &Diagnostic) -> String {
        let shown = Path::new(&d.path);
        let file = match &self.display_base {
            Some(base) if shown.is_relative() => base.join(shown),
            _ => shown.to_path_buf(),
        };
        match std::fs::read_to_string(&file) {
            Ok(source) => super::snippet::render(d, &source),
            Err(_) => d.to_string(),
        }
    }

    pub fn display(&self, p: &Path) -> String {
        [&self.display_base, &self.display_base_real]
            .into_iter()
            .flatten()
            .find_map(|base| p.strip_prefix(base).ok())
            .unwrap_or(p)
            .display()
            .to_string()
    }
}

pub struct ServiceScript {
    engine: Engine,
    /// SHA-256 over the entry's and the imports' contents, to skip reloads
    /// that change nothing.
    content_hash: [u8; 32],
    ast: AST,
    handlers: HashSet<(String, usize)>,
    /// Every function of the entry script (timers and requests call back by name).
    functions: HashSet<(String, usize)>,
    has_imports: bool,
    files: Vec<PathBuf>,
    /// Each of `files` as diagnostics show it, to read its text back when a
    /// call fails ("Function not found" shows the call as written).
    shown_files: Vec<(String, PathBuf)>,
    main_display: String,
    this: Dynamic,
    limits: ScriptLimits,
    deadline: Deadline,
    /// The calls that failed since [`take_failures`](Self::take_failures).
    failures: Vec<Diagnostic>,
}

/// What the resolver learns while compiling: the imported files, and an
/// import it refused (a cycle).
pub(super) struct ImportRecord {
    seen: Rc<RefCell<Vec<PathBuf>>>,
    refused: Rc<RefCell<Option<ImportRefusal>>>,
}

pub(super) fn build_engine(
    opts: &CompileOptions,
    host: Rc<dyn HostApi>,
    deadline: &Deadline,
) -> (Engine, ImportRecord) {
    let mut engine = Engine::new();
    engine.set_max_expr_depths(limits::MAX_EXPR_DEPTH, limits::MAX_FN_EXPR_DEPTH);
    limits::apply(&mut engine, &opts.limits, deadline);
    let resolver = ScriptsResolver::new(&opts.scripts_dir, &opts.main);
    let record = ImportRecord {
        seen: resolver.seen.clone(),
        refused: resolver.refused.clone(),
    };
    engine.set_module_resolver(resolver);
    engine.on_print(|s| tracing::info!(target: "script", "{s}"));
    engine.on_debug(
        |s, src, pos| tracing::debug!(target: "script", "{}:{pos}: {s}", src.unwrap_or("")),
    );
    character::register(&mut engine);
    id_list::register(&mut engine);
    api::register(&mut engine, host);
    (engine, record)
}

/// An import the resolver refused, at its position. Rhai resolves the entry
/// script's own imports without a position, so those are found in its AST.
fn refusal_diagnostic(
    engine: &Engine,
    opts: &CompileOptions,
    main_text: &str,
    r: ImportRefusal,
) -> Diagnostic {
    let (mut line, mut col) = (r.line, r.col);
    if line == 0 {
        let found = engine.compile(main_text).ok().and_then(|ast| {
            ast.statements().iter().find_map(|stmt| match stmt {
                Stmt::Import(x, pos) => match &x.0 {
                    rhai::Expr::StringConstant(s, ..) if s.as_str() == r.import => Some(*pos),
                    _ => None,
                },
                _ => None,
            })
        });
        if let Some(pos) = found {
            line = pos.line().unwrap_or(0);
            col = pos.position().unwrap_or(0);
        }
    }
    Diagnostic {
        path: opts.display(&r.file),
        line,
        col,
        message: r.message,
    }
}

/// The top level of a service holds `import`s and functions only: handlers
/// are the entry points, and code at the top level would otherwise run (or
/// not) depending on whether the script imports anything.
fn check_top_level(ast: &AST, path: &str) -> Result<(), Diagnostic> {
    for stmt in ast.statements() {
        if !matches!(stmt, Stmt::Import(..) | Stmt::Noop(..)) {
            let pos = stmt.position();
            return Err(Diagnostic {
                path: path.to_string(),
                line: pos.line().unwrap_or(0),
                col: pos.position().unwrap_or(0),
                message: "only `import` statements and functions may be at the top level of a service; put set-up code in before_channel_init()".into(),
            });
        }
    }
    Ok(())
}

impl ServiceScript {
    /// Compiles the service on a thread of its own, within
    /// `compile_timeout_ms` (see `compile.rs`), then builds the engine (with
    /// `host` behind the script API) around it. Touches no network.
    pub fn load(opts: &CompileOptions, host: Rc<dyn HostApi>) -> Result<Self, Diagnostic> {
        let shipped = compile::compile_within(opts)?;
        Ok(Self::from_compiled(shipped, opts, host))
    }

    /// The service compiled off this thread, ready to run here.
    pub fn from_compiled(shipped: Shipped, opts: &CompileOptions, host: Rc<dyn HostApi>) -> Self {
        let c = shipped.open();
        let deadline = Deadline::default();
        let (engine, _) = build_engine(opts, host, &deadline);
        let handlers = c
            .functions
            .iter()
            .filter(|(n, a)| HANDLERS.iter().any(|h| h.name == n && h.arity() == *a))
            .cloned()
            .collect();
        let mut files = vec![opts.main.clone()];
        files.extend(c.imports.iter().cloned());
        let shown_files = files.iter().map(|f| (opts.display(f), f.clone())).collect();
        ServiceScript {
            engine,
            content_hash: c.content_hash,
            ast: c.ast,
            handlers,
            functions: c.functions,
            has_imports: !c.imports.is_empty(),
            files,
            shown_files,
            main_display: c.main_display,
            this: Dynamic::from_map(Map::new()),
            limits: opts.limits.clone(),
            deadline,
            failures: Vec::new(),
        }
    }

    /// Compiles the service with `engine` (on the compile thread).
    pub(super) fn compile_with(
        engine: &Engine,
        record: &ImportRecord,
        opts: &CompileOptions,
    ) -> Result<Compiled, Diagnostic> {
        let main_display = opts.display(&opts.main);
        let text = super::size::read_script(&opts.main, &main_display)?;
        let mut ast = engine
            .compile_into_self_contained(&Scope::new(), &text)
            .map_err(|e| {
                if let Some(r) = record.refused.borrow_mut().take() {
                    return refusal_diagnostic(engine, opts, &text, r);
                }
                let mut d = Diagnostic::from_eval(&main_display, None, &e);
                d.path = opts.display(Path::new(&d.path));
                if let Some(message) = compile::module_over_limit(&e, opts) {
                    d.message = message;
                }
                d
            })?;
        ast.set_source(main_display.as_str());
        check_top_level(&ast, &main_display)?;
        let functions = ast
            .iter_functions()
            .map(|f| (f.name.to_string(), f.params.len()))
            .collect();
        let imports: Vec<PathBuf> = record.seen.borrow().clone();
        let mut hasher = Sha256::new();
        hasher.update(text.as_bytes());
        for f in &imports {
            hasher.update(f.to_string_lossy().as_bytes());
            hasher.update(std::fs::read(f).unwrap_or_default());
        }
        Ok(Compiled {
            ast,
            content_hash: hasher.finalize().into(),
            functions,
            imports,
            main_display,
        })
    }

    /// True when the script defines this handler with this arity.
    pub fn has(&self, name: &str, arity: usize) -> bool {
        self.handlers.contains(&(name.to_string(), arity))
    }

    /// The files the service was compiled from (entry first).
    /// True when the entry script defines a function of that name and arity
    /// (a handler or not).
    pub fn has_function(&self, name: &str, arity: usize) -> bool {
        self.functions.contains(&(name.to_string(), arity))
    }

    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    pub fn this(&self) -> &Dynamic {
        &self.this
    }

    /// SHA-256 over the entry's and the imports' contents: the version.
    pub fn content_hash(&self) -> [u8; 32] {
        self.content_hash
    }

    /// True when both were compiled from the same file contents.
    pub fn same_content(&self, other: &ServiceScript) -> bool {
        self.content_hash == other.content_hash
    }

    /// Takes over the state of the version this one replaces (hot reload).
    pub fn adopt_state(&mut self, old: &mut ServiceScript) {
        self.this = std::mem::take(&mut old.this);
    }

    /// The same compiled version with another host behind its script API
    /// and `this` given (a deploy's dry run of `on_reload` on a copy of the
    /// running state, see `host/reload/dry_run.rs`).
    pub fn rehosted(&self, opts: &CompileOptions, host: Rc<dyn HostApi>, this: Dynamic) -> Self {
        let deadline = Deadline::default();
        let (engine, _) = build_engine(opts, host, &deadline);
        ServiceScript {
            engine,
            content_hash: self.content_hash,
            ast: self.ast.clone(),
            handlers: self.handlers.clone(),
            functions: self.functions.clone(),
            has_imports: self.has_imports,
            files: self.files.clone(),
            shown_files: self.shown_files.clone(),
            main_display: self.main_display.clone(),
            this,
            limits: self.limits.clone(),
            deadline,
            failures: Vec::new(),
        }
    }

    /// The files as the author sees them (relative to the service directory).
    pub fn display_files(&self, opts: &CompileOptions) -> Vec<String> {
        self.files.iter().map(|f| opts.display(f)).collect()
    }

    /// Calls a handler with `this` bound. `Ok(false)` when the script does not
    /// define it. A failed call leaves `this` as the handler left it.
    pub fn call(&mut self, name: &str, args: Vec<Dynamic>) -> Result<bool, HandlerError> {
        self.call_returning(name, args).map(|v| v.is_some())
    }

    /// As [`call`](Self::call), with the function's return value (`None`
    /// when the script does not define it).
    pub fn call_returning(
        &mut self,
        name: &str,
        args: Vec<Dynamic>,
    ) -> Result<Option<Dynamic>, HandlerError> {
        let arity = args.len();
        if !self.has_function(name, arity) {
            return Ok(None);
        }
        let options = CallFnOptions::new()
            .eval_ast(self.has_imports)
            .rewind_scope(true)
            .bind_this_ptr(&mut self.this);
        let mut scope = Scope::new();
        let running = limits::HandlerScope::enter(&self.deadline, &self.limits);
        let result = self
            .engine
            .call_fn_with_options::<Dynamic>(options, &mut scope, &self.ast, name, args);
        drop(running);
        let aborted = self.deadline.take_abort();
        result.map(Some).map_err(|e| {
            let explain = |inner: &rhai::EvalAltResult, path: &str| {
                let source = self.source_of(path);
                super::not_found::explain(inner, source.as_deref(), Callable::service())
            };
            let mut d =
                Diagnostic::from_eval_explained(&self.main_display, Some(name), &e, &explain);
            // A host function that ran the budget out says best what happened,
            // whether the script caught its error or not.
            let failure = if let Some(reason) = aborted {
                d.message = format!("{name} aborted: {reason}");
                HandlerFailure::Limit
            } else if let Some(why) = limits::describe(&e, &self.limits) {
                d.message = format!("{name} {why}");
                HandlerFailure::Limit
            } else if api::convert::raised_by_host(&e) {
                HandlerFailure::HostCall
            } else {
                HandlerFailure::Script
            };
            let diagnostic = d.or_at_definition(&self.ast, name, arity);
            self.failures.push(diagnostic.clone());
            HandlerError {
                failure,
                diagnostic,
            }
        })
    }

    /// The text of the file a diagnostic calls `shown` (read again: only
    /// when a call failed).
    fn source_of(&self, shown: &str) -> Option<String> {
        let file = self
            .shown_files
            .iter()
            .find(|(display, real)| display == shown || real.as_path() == Path::new(shown))
            .map_or_else(|| PathBuf::from(shown), |(_, real)| real.clone());
        std::fs::read_to_string(file).ok()
    }

    /// The calls that failed since the last time this was asked, oldest
    /// first (the host publishes them in its status).
    pub fn take_failures(&mut self) -> Vec<Diagnostic> {
        std::mem::take(&mut self.failures)
    }
}
