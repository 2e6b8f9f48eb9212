//! Compiling a service off the thread that will run it, within a time
//! bound (`script_limits.compile_timeout_ms`).
//!
//! A big service (700 KB, 45,000 `let`s) takes Rhai 15 s to compile, and a
//! script thread that compiled its own reload kept every member waiting
//! that long. So the compile runs on a thread of its own ([`start`]) while
//! the script thread goes on serving the old version, and only the finished
//! AST reaches the script thread, which builds its engine around it (cheap)
//! between two events.
//!
//! Why this is sound although `rhai::AST` is not `Send` (the crate is built
//! without Rhai's `sync` feature, so the AST holds `Rc`s): an `Rc` may not
//! cross threads because two threads could then touch one reference count.
//! The compile thread builds an engine of its own ([`build_compile_engine`],
//! against [`NoHost`], compiling calls no host function), and everything
//! that may share an `Rc` with the AST (that engine, its string interner,
//! its resolver, its progress callback) is dropped on the compile thread
//! before the AST is sent. From then on the AST is the only owner of every
//! `Rc` it reaches, exactly like a tree of `Box`es, and [`Shipped`] moves
//! it whole to one script thread. Rhai keeps no thread-local or static
//! state that could hold a clone (checked in rhai 1.27: its statics are the
//! hash seed, `INDEXER_HASHES` in `eval/indexing.rs`, `DUMMY_RESOLVER` in
//! `api/mod.rs` and the keyword tables in `types/token.rs`; none holds an
//! `Rc`). What else this relies on is listed at [`build_compile_engine`].
//! Each script thread gets a compile of its own: a clone of an AST shares
//! its `Rc`s and must never be shipped.
//!
//! Rhai's parser cannot be interrupted, so the bound is kept by waiting:
//! past it the compile is refused with one line, and the compile thread is
//! left to finish on its own and drop its result. It does end: its input is
//! capped in size, and the one piece of a compile that runs script code (an
//! imported module's top level, evaluated as it is resolved) is stopped at
//! the bound and after [`COMPILE_MAX_OPERATIONS`], whatever
//! `script_limits.max_operations` says (0 is unlimited there). At most
//! [`MAX_COMPILE_THREADS`] compile threads run at once, abandoned or
//! waited for; a compile that gets no turn within its bound is refused.

use super::limits::Deadline;
use super::service::{build_engine, CompileOptions};
use super::{Diagnostic, NoHost, ServiceScript};
use rhai::AST;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::{mpsc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Compile threads running at once in the process, waited for or abandoned
/// (ran over their bound). Each holds a thread and up to a few hundred MiB
/// until it ends, and compiling is CPU-bound, so more at once only share
/// the cores; without a bound a reload started one per script thread and
/// a burst of saves of a too-big service one more per save.
pub const MAX_COMPILE_THREADS: usize = 4;

/// Rhai operations an imported module's top-level code may run while the
/// service compiles, whatever `script_limits.max_operations` says. That
/// code defines constants and small tables; this is thousands of times
/// what it needs, and it makes a `loop {}` there end even where handlers
/// are unlimited (`max_operations: 0`).
pub const COMPILE_MAX_OPERATIONS: u64 = 10_000_000;

/// Compile threads running now (at most [`MAX_COMPILE_THREADS`]), and the
/// signal that one ended.
static RUNNING: Mutex<usize> = Mutex::new(0);
static ENDED: Condvar = Condvar::new();

/// One of the [`MAX_COMPILE_THREADS`] turns, held by a compile thread until
/// it ends.
struct Turn(());

impl Turn {
    /// Waits until `deadline` at most for a turn.
    fn take(deadline: Instant) -> Option<Turn> {
        let mut running = RUNNING.lock().unwrap_or_else(PoisonError::into_inner);
        while *running >= MAX_COMPILE_THREADS {
            let left = deadline.checked_duration_since(Instant::now())?;
            running = ENDED
                .wait_timeout(running, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        *running += 1;
        Some(Turn(()))
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut running = RUNNING.lock().unwrap_or_else(PoisonError::into_inner);
        *running = running.saturating_sub(1);
        ENDED.notify_all();
    }
}

/// How a refusal for running over the bound begins.
const OVER_BOUND: &str = "compiling took longer than script_limits.compile_timeout_ms";

/// True when `d` refused a compile that ran over the bound.
pub fn is_over_bound(d: &Diagnostic) -> bool {
    d.message.starts_with(OVER_BOUND)
}

/// A compiled service, before an engine runs it.
pub(super) struct Compiled {
    pub ast: AST,
    pub content_hash: [u8; 32],
    pub functions: std::collections::HashSet<(String, usize)>,
    pub imports: Vec<PathBuf>,
    pub main_display: String,
}

/// A compiled service on its way to the one script thread that runs it.
pub struct Shipped(Box<Compiled>);

// SAFETY: see the module comment. A `Shipped` is only made on the compile
// thread from a `Compiled` whose engine was already dropped, so it owns
// every `Rc` it reaches; it is not `Clone`, so it reaches one thread only.
unsafe impl Send for Shipped {}

impl Shipped {
    pub(super) fn open(self) -> Compiled {
        *self.0
    }
}

impl std::fmt::Debug for Shipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Shipped({})", self.0.main_display)
    }
}

/// The engine a compile thread compiles with: the running engine's
/// settings, no host behind it, and limits of its own for an imported
/// module's top-level code, which runs as the module is resolved: at most
/// [`COMPILE_MAX_OPERATIONS`], and stopped at `deadline` (the bound).
///
/// `unsafe impl Send for Shipped` relies on these, besides Rhai's statics
/// (module comment):
/// - this engine (with its resolver, interner and progress callback) is
///   dropped on the compile thread before the AST is shipped (`compile_here`);
/// - the module resolver's cache stays disabled (`ScriptsResolver::new`): a
///   cache would keep a module the AST also holds;
/// - the optimisation level is `Simple`, which calls no registered function
///   at compile time (`Full` would run native functions on constants, and
///   their results could share an `Rc` with something outside the AST);
/// - no `thread_local` of the project is touched by a module's top-level
///   code: it reaches only [`NoHost`], and the handler budget
///   (`limits::HandlerScope`) is never entered on a compile thread.
fn build_compile_engine(
    opts: &CompileOptions,
    deadline: &Deadline,
) -> (rhai::Engine, super::service::ImportRecord) {
    let (mut engine, record) = build_engine(opts, Rc::new(NoHost), deadline);
    engine.set_max_operations(COMPILE_MAX_OPERATIONS);
    engine.set_optimization_level(rhai::OptimizationLevel::Simple);
    (engine, record)
}

/// A compile running on its own thread.
pub struct Pending {
    rx: mpsc::Receiver<Result<Shipped, Diagnostic>>,
    main: String,
    bound: Duration,
}

/// Starts compiling the service on a thread of its own, once one of the
/// [`MAX_COMPILE_THREADS`] turns is free: waits for one until `started` +
/// the bound at most, past that refuses.
pub fn start(opts: &CompileOptions, started: Instant) -> Result<Pending, Diagnostic> {
    let main = opts.display(&opts.main);
    let bound = opts.limits.compile_timeout;
    let Some(turn) = Turn::take(started + bound) else {
        return Err(Diagnostic::plain(
            &main,
            format!("{MAX_COMPILE_THREADS} compile threads (the most at once) were still running after script_limits.compile_timeout_ms ({} ms); try again when they end", bound.as_millis()),
        ));
    };
    let (tx, rx) = mpsc::sync_channel(1);
    let owned = opts.clone();
    std::thread::Builder::new()
        .name("compile".into())
        .stack_size(super::SCRIPT_THREAD_STACK)
        .spawn(move || {
            let result = compile_here(&owned, started).map(|c| Shipped(Box::new(c)));
            // Buffered: never waits, even when nobody listens any more.
            let _ = tx.send(result);
            drop(turn);
        })
        .map_err(|e| Diagnostic::plain(&main, format!("cannot start a compile thread: {e}")))?;
    Ok(Pending { rx, main, bound })
}

impl Pending {
    /// Waits for the compile until `started` + the bound; past it, refuses.
    pub fn wait(self, started: Instant) -> Result<Shipped, Diagnostic> {
        let left = self.bound.saturating_sub(started.elapsed());
        match self.rx.recv_timeout(left) {
            Ok(result) => result,
            Err(mpsc::RecvTimeoutError::Timeout) => Err(Diagnostic::plain(
                &self.main,
                format!(
                    "{OVER_BOUND} ({} ms); the service is refused (make it smaller, or raise the limit)",
                    self.bound.as_millis()
                ),
            )),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(Diagnostic::plain(
                &self.main,
                "the compile thread stopped without an answer",
            )),
        }
    }
}

/// Compiles on a thread of its own and waits at most the bound.
pub fn compile_within(opts: &CompileOptions) -> Result<Shipped, Diagnostic> {
    let started = Instant::now();
    start(opts, started)?.wait(started)
}

/// Compiles on this thread, with an engine of its own that is dropped
/// before this returns; a module's top-level code is stopped at `started`
/// + the bound.
fn compile_here(opts: &CompileOptions, started: Instant) -> Result<Compiled, Diagnostic> {
    let deadline = Deadline::default();
    let left = opts
        .limits
        .compile_timeout
        .saturating_sub(started.elapsed());
    deadline.start(left);
    let (engine, record) = build_compile_engine(opts, &deadline);
    let compiled = ServiceScript::compile_with(&engine, &record, opts);
    drop(engine);
    drop(record);
    drop(deadline);
    compiled
}

/// What stopped a module's top-level code during a compile, when one of the
/// compile's own limits did (Rhai's words name neither).
pub(super) fn module_over_limit(
    err: &rhai::EvalAltResult,
    opts: &CompileOptions,
) -> Option<String> {
    match err.unwrap_inner() {
        rhai::EvalAltResult::ErrorTooManyOperations(..) => Some(format!(
            "this module's top-level code ran more than {COMPILE_MAX_OPERATIONS} operations while the service compiled (the compile's own limit); move the work into a function"
        )),
        // Only the compile's deadline terminates a compile.
        rhai::EvalAltResult::ErrorTerminated(..) => Some(format!(
            "this module's top-level code was still running when the compile reached script_limits.compile_timeout_ms ({} ms); move the work into a function",
            opts.limits.compile_timeout.as_millis()
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::ScriptLimits;

    /// A service in a directory of its own: `service.rhai` with `main`,
    /// and the modules `(name, text)`.
    fn service(
        main: &str,
        modules: &[(&str, &str)],
        limits: ScriptLimits,
    ) -> (tempfile::TempDir, CompileOptions) {
        let dir = tempfile::tempdir().unwrap();
        let scripts = dir.path().join("scripts");
        std::fs::create_dir_all(&scripts).unwrap();
        std::fs::write(scripts.join("service.rhai"), main).unwrap();
        for (name, text) in modules {
            std::fs::write(scripts.join(format!("{name}.rhai")), text).unwrap();
        }
        let mut opts =
            CompileOptions::for_main(&scripts.join("service.rhai")).with_display_base(dir.path());
        opts.limits = limits;
        (dir, opts)
    }

    /// Threads of this process named "compile".
    fn compile_threads() -> usize {
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
            return 0;
        };
        tasks
            .filter_map(Result::ok)
            .filter(|t| {
                std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == "compile")
            })
            .count()
    }

    #[test]
    fn a_reload_with_many_threads_runs_at_most_the_bound_of_compiles_at_once() {
        // Slow to parse (seconds in a debug build), so that every copy
        // runs over the tiny bound.
        let lets: String = (0..2_000).map(|i| format!("let v{i} = {i};\n")).collect();
        let main = format!("fn on_start() {{\n{lets}}}\n");
        let limits = ScriptLimits {
            compile_timeout: Duration::from_millis(20),
            ..ScriptLimits::default()
        };
        let (_dir, opts) = service(&main, &[], limits);
        let started = Instant::now();
        let pending: Vec<_> = (0..8).map(|_| start(&opts, started)).collect();
        let refused: Vec<String> = pending
            .into_iter()
            .filter_map(|p| p.and_then(|p| p.wait(started).map(drop)).err())
            .map(|d| d.message)
            .collect();
        assert_eq!(refused.len(), 8, "{refused:?}");
        assert!(refused.iter().all(|m| !m.contains('\n')), "{refused:?}");
        let no_turn = format!("{MAX_COMPILE_THREADS} compile threads (the most at once)");
        assert!(
            refused.iter().any(|m| m.starts_with(&no_turn)),
            "{refused:?}"
        );
        // Every thread ends, abandoned or not, and no more than the bound
        // ran at once meanwhile.
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut most = 0;
        loop {
            let running = compile_threads();
            most = most.max(running);
            if running == 0 {
                break;
            }
            assert!(Instant::now() < deadline, "compile threads never ended");
            std::thread::sleep(Duration::from_millis(5));
        }
        eprintln!("compiles ended after {:?}", started.elapsed());
        assert!(most <= 4, "{most} compile threads at once");
    }

    #[test]
    fn a_module_looping_at_its_top_level_is_refused_and_its_thread_ends() {
        let limits = ScriptLimits {
            max_operations: 0,
            compile_timeout: Duration::from_millis(300),
            ..ScriptLimits::default()
        };
        let main = "import \"spin\" as spin;\nfn on_start() {}\n";
        let (_dir, opts) = service(main, &[("spin", "loop {}\n")], limits);
        let pending = start(&opts, Instant::now()).unwrap();
        // The thread answers (its last act before it ends) on its own.
        let answer = pending.rx.recv_timeout(Duration::from_secs(20));
        let Ok(Err(d)) = answer else {
            panic!("the compile thread did not end: {answer:?}");
        };
        // Whichever bound comes first (the time, or the compile's own
        // operations limit on a fast machine) stops it, naming itself.
        assert!(
            d.message.contains("script_limits.compile_timeout_ms")
                || d.message.contains("the compile's own limit"),
            "{d}"
        );
    }

    #[test]
    fn the_compile_engine_limits_operations_whatever_the_configuration() {
        let limits = ScriptLimits {
            max_operations: 0,
            ..ScriptLimits::default()
        };
        let (_dir, opts) = service("fn on_start() {}\n", &[], limits);
        let (engine, _) = build_compile_engine(&opts, &Deadline::default());
        assert_eq!(engine.max_operations(), COMPILE_MAX_OPERATIONS);
    }
}
