//! The script threads: `script_threads` of them (1 by default), each with
//! its own engine, compiled script and `this`, each handling its channels'
//! events one at a time, members' events in arrival order, timers and
//! spells taking turns with them (`script_thread.rs`, `intake.rs`). Events reach
//! them through an [`EventSender`], which routes by channel (`shards.rs`).
//!
//! Rhai's engine and values cannot leave the thread that made them (no
//! `sync` feature: faster, and the script needs no locks), so each engine is
//! built on its thread and everything else talks to it through its queue of
//! [`HostEvent`]s. What the threads share (the outbox, the uploader, the
//! agents, the stores, the status) is shared here, once.

use crate::config::RequestPolicy;
use crate::host::bridge::agents::AgentBook;
use crate::host::callbacks::requests::{RequestRunner, Responder};
use crate::host::callbacks::response_body::Budget;
use crate::host::callbacks::timers::{self, HostClock, TimerQueue, VirtualClock};
use crate::host::events::HostEvent;
use crate::host::outbox::OutboxSender;
use crate::host::progress::HostProgress;
use crate::host::status::ScriptStatus;
use crate::host::threads::intake::{self, Intake};
use crate::host::threads::script_thread::{self, ThreadStart};
use crate::host::threads::shards::EventSender;
use crate::host::threads::shared::{Place, Shared, TimerBoard};
use crate::platform::{HttpApi, Uploader};
use crate::script::{CompileOptions, Diagnostic};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// What the script threads need from the async side.
pub struct ExecutorDeps {
    /// What every thread gets a copy of.
    pub base: ThreadDeps,
    pub status: watch::Sender<ScriptStatus>,
    /// Shared by every script thread (see `Stores` on threads).
    pub stores: Arc<crate::store::Stores>,
    /// `script_threads`.
    pub threads: usize,
    /// Where the agent records live (`db_config`'s data directory).
    pub data_dir: std::path::PathBuf,
    /// In a cluster: the lock every node takes around `create_agent`, so
    /// that an agent is made once for the whole cluster.
    pub agent_lock: Option<crate::cluster::lease::Lease>,
}

/// What each script thread gets its own copy of.
#[derive(Clone)]
pub struct ThreadDeps {
    pub outbox: OutboxSender,
    pub http: Arc<HttpApi>,
    pub uploader: Arc<Uploader>,
    pub rt: tokio::runtime::Handle,
    /// When set, every handled event is followed by a counting barrier (see `progress.rs`).
    pub progress: Option<HostProgress>,
    /// What scripts' `request(...)` may do.
    pub requests: RequestPolicy,
    /// The bytes of response bodies every thread's requests share.
    pub request_budget: Budget,
    /// Answers requests instead of the network (scenario tests).
    pub responder: Option<Arc<dyn Responder>>,
    /// Timers follow this clock instead of wall time (scenario tests).
    pub virtual_clock: Option<VirtualClock>,
    /// Service or user (`service_mode`).
    pub mode: crate::config::Mode,
}

/// One running script thread.
struct ScriptThread {
    thread: std::thread::JoinHandle<()>,
    /// Fires its timers on wall time (none under a virtual clock).
    clock_task: Option<tokio::task::JoinHandle<()>>,
}

pub struct Executor {
    events: EventSender,
    /// The script's status (a bundle swap reports its refusals there).
    status: watch::Sender<ScriptStatus>,
    threads: Vec<ScriptThread>,
    /// Set at shutdown: events still queued are dropped, not handled.
    stopping: Arc<AtomicBool>,
}

impl Executor {
    /// Starts the script threads and compiles the service on each. Returns
    /// the diagnostic when the script does not compile (nothing has run).
    pub async fn start(opts: CompileOptions, deps: ExecutorDeps) -> Result<Self, Diagnostic> {
        let n = deps.threads.max(1);
        let stopping = Arc::new(AtomicBool::new(false));
        let versions = Arc::new(crate::host::reload::tags::ThreadVersions::new(n));
        let shared = Arc::new(Shared {
            versions: versions.clone(),
            agents: Mutex::new(AgentBook::open(&deps.data_dir)),
            board: TimerBoard::new(n),
            status: deps.status.clone(),
            agent_lock: deps.agent_lock,
        });
        let mut senders = Vec::with_capacity(n);
        let mut threads = Vec::with_capacity(n);
        let mut ready = Vec::with_capacity(n);
        for index in 0..n {
            let place = Place { index, threads: n };
            let (tx, thread, ready_rx) =
                spawn_thread(&opts, &deps.base, place, &shared, &deps.stores, &stopping)?;
            senders.push(tx);
            threads.push(thread);
            ready.push(ready_rx);
        }
        let executor = Executor {
            events: EventSender::new(senders, opts.clone()).with_versions(versions),
            status: deps.status.clone(),
            threads,
            stopping,
        };
        for r in ready {
            let outcome = r.await.unwrap_or_else(|_| {
                Err(Diagnostic::plain(
                    "(host)",
                    "a script thread stopped while compiling",
                ))
            });
            if let Err(d) = outcome {
                executor.stop(crate::timeouts::SCRIPT_STOP_GRACE).await;
                return Err(d);
            }
        }
        Ok(executor)
    }

    pub fn send(&self, event: HostEvent) {
        let _ = self.events.send(event);
    }

    pub fn sender(&self) -> EventSender {
        self.events.clone()
    }

    /// The script's status, for what reports besides the threads.
    pub fn status(&self) -> watch::Sender<ScriptStatus> {
        self.status.clone()
    }

    /// Asks the threads to stop after the event each is handling and waits
    /// for them, at most `grace` (a handler stuck in a long call is left
    /// behind; the process is about to end anyway).
    pub async fn stop(self, grace: std::time::Duration) {
        for t in &self.threads {
            if let Some(task) = &t.clock_task {
                task.abort();
            }
        }
        self.stopping.store(true, Ordering::SeqCst);
        let _ = self.events.send(HostEvent::Shutdown);
        let joins: Vec<_> = self
            .threads
            .into_iter()
            .map(|t| tokio::task::spawn_blocking(move || t.thread.join()))
            .collect();
        let all = async {
            for j in joins {
                let _ = j.await;
            }
        };
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::warn!("a handler was still running at shutdown");
        }
    }
}

type Ready = tokio::sync::oneshot::Receiver<Result<(), Diagnostic>>;

/// Starts script thread `place` with its own queue, timer queue and clock,
/// and request runner.
fn spawn_thread(
    opts: &CompileOptions,
    deps: &ThreadDeps,
    place: Place,
    shared: &Arc<Shared>,
    stores: &Arc<crate::store::Stores>,
    stopping: &Arc<AtomicBool>,
) -> Result<(Intake, ScriptThread, Ready), Diagnostic> {
    let (tx, rx) = intake::channel();
    let queue = Arc::new(TimerQueue::default());
    let (clock, clock_task) = match &deps.virtual_clock {
        Some(v) => {
            v.attach(queue.clone(), tx.clone());
            (HostClock::Virtual(v.clone()), None)
        }
        None => {
            let origin = std::time::Instant::now();
            let task = timers::spawn_real_clock(queue.clone(), origin, tx.clone());
            (HostClock::Real(origin), Some(task))
        }
    };
    let runner = RequestRunner::new(
        deps.requests.clone(),
        deps.request_budget.clone(),
        deps.responder.clone(),
        tx.clone(),
        deps.rt.clone(),
    );
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let start = ThreadStart {
        opts: opts.clone(),
        place,
        shared: shared.clone(),
        outbox: deps.outbox.clone(),
        http: deps.http.clone(),
        uploader: deps.uploader.clone(),
        rt: deps.rt.clone(),
        progress: deps.progress.clone(),
        stores: stores.clone(),
        mode: deps.mode,
        timing: (clock, queue, runner),
        rx,
        ready: ready_tx,
        stopping: stopping.clone(),
    };
    let thread = std::thread::Builder::new()
        .name(format!("script-{}", place.index))
        .stack_size(crate::script::SCRIPT_THREAD_STACK)
        .spawn(move || script_thread::run(start))
        .map_err(|e| Diagnostic::plain("(host)", format!("cannot start a script thread: {e}")))?;
    Ok((tx, ScriptThread { thread, clock_task }, ready_rx))
}
