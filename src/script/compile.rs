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
//! it whole to one script thread. Rhai keeps no thread-local state that
//! could hold a clone (checked in rhai 1.27: its only statics are hash
//! seeds). Each script thread gets a compile of its own: a clone of an AST
//! shares its `Rc`s and must never be shipped.
//!
//! Rhai's parser cannot be interrupted, so the bound is kept by waiting:
//! past it the compile is refused with one line, and the compile thread is
//! left to finish on its own (its input is capped in size, so it ends) and
//! drop its result. At most [`MAX_ABANDONED_COMPILES`] such threads run at
//! once; past that a new compile is refused until one ends.

use super::limits::Deadline;
use super::service::{build_engine, CompileOptions};
use super::{Diagnostic, NoHost, ServiceScript};
use rhai::AST;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Compiles that ran over their bound and are still running. Each holds a
/// thread and up to a few hundred MiB while it ends; a burst of saves of a
/// too-big service would otherwise start one per save.
pub const MAX_ABANDONED_COMPILES: usize = 4;

static ABANDONED: AtomicUsize = AtomicUsize::new(0);

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
/// settings, no host behind it.
fn build_compile_engine(opts: &CompileOptions) -> (rhai::Engine, super::service::ImportRecord) {
    build_engine(opts, Rc::new(NoHost), &Deadline::default())
}

/// A compile running on its own thread.
pub struct Pending {
    rx: mpsc::Receiver<Result<Shipped, Diagnostic>>,
    job: Arc<Mutex<Job>>,
    answered: bool,
    main: String,
    bound: Duration,
}

/// One compile thread's state, shared with whoever waits for it: whichever
/// of the two comes second settles the count of [`ABANDONED`] compiles.
#[derive(Default)]
struct Job {
    finished: bool,
    abandoned: bool,
}

fn lock(job: &Mutex<Job>) -> std::sync::MutexGuard<'_, Job> {
    job.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Starts compiling the service on a thread of its own.
pub fn start(opts: &CompileOptions) -> Result<Pending, Diagnostic> {
    let main = opts.display(&opts.main);
    let abandoned = ABANDONED.load(Ordering::SeqCst);
    if abandoned >= MAX_ABANDONED_COMPILES {
        return Err(Diagnostic::plain(
            &main,
            format!("{abandoned} compiles that ran over script_limits.compile_timeout_ms are still running; try again when they end"),
        ));
    }
    let (tx, rx) = mpsc::sync_channel(1);
    let job = Arc::new(Mutex::new(Job::default()));
    let theirs = job.clone();
    let owned = opts.clone();
    std::thread::Builder::new()
        .name("compile".into())
        .stack_size(super::SCRIPT_THREAD_STACK)
        .spawn(move || {
            let result = compile_here(&owned).map(|c| Shipped(Box::new(c)));
            let mut job = lock(&theirs);
            job.finished = true;
            if job.abandoned {
                ABANDONED.fetch_sub(1, Ordering::SeqCst);
            }
            drop(job);
            let _ = tx.send(result);
        })
        .map_err(|e| Diagnostic::plain(&main, format!("cannot start a compile thread: {e}")))?;
    Ok(Pending {
        rx,
        job,
        answered: false,
        main,
        bound: opts.limits.compile_timeout,
    })
}

impl Pending {
    /// Waits for the compile until `started` + the bound; past it, refuses.
    pub fn wait(mut self, started: Instant) -> Result<Shipped, Diagnostic> {
        let left = self.bound.saturating_sub(started.elapsed());
        match self.rx.recv_timeout(left) {
            Ok(result) => {
                self.answered = true;
                result
            }
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

impl Drop for Pending {
    /// Given up on before it answered: counted until its thread ends.
    fn drop(&mut self) {
        let mut job = lock(&self.job);
        if !self.answered && !job.finished {
            job.abandoned = true;
            ABANDONED.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Compiles on a thread of its own and waits at most the bound.
pub fn compile_within(opts: &CompileOptions) -> Result<Shipped, Diagnostic> {
    let started = Instant::now();
    start(opts)?.wait(started)
}

/// Compiles on this thread, with an engine of its own that is dropped
/// before this returns.
fn compile_here(opts: &CompileOptions) -> Result<Compiled, Diagnostic> {
    let (engine, record) = build_compile_engine(opts);
    let compiled = ServiceScript::compile_with(&engine, &record, opts)?;
    drop(engine);
    drop(record);
    Ok(compiled)
}
