//! One script thread's life: build the engine and compile, report ready,
//! then handle events one at a time until shutdown, committing the stores,
//! publishing errors and timers, and counting progress after each.
//!
//! Member-table updates happen here too, right before the handler that
//! should see them, which makes `fetch_member_ids` consistent with the event
//! being handled. The member table belongs to the thread, like its
//! channels.

use crate::host::bridge::members::MemberTable;
use crate::host::bridge::HostBridge;
use crate::host::callbacks::requests::RequestRunner;
use crate::host::callbacks::timers::{HostClock, TimerQueue};
use crate::host::callbacks::Callbacks;
use crate::host::events::HostEvent;
use crate::host::outbox::{Barrier, Downward, OutboxSender};
use crate::host::progress::{Handled, HostProgress};
use crate::host::reload::apply;
use crate::host::reload::versions::{self, ThreadParts, Versions};
use crate::host::status::{now_ms, TimerStatus};
use crate::host::threads::handlers;
use crate::host::threads::intake::IntakeRx;
use crate::host::threads::shared::{Place, Shared};
use crate::platform::{HttpApi, Uploader};
use crate::script::{CompileOptions, Diagnostic, ServiceScript};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Everything a script thread starts with.
pub struct ThreadStart {
    pub opts: CompileOptions,
    pub place: Place,
    pub shared: Arc<Shared>,
    pub outbox: OutboxSender,
    pub http: Arc<HttpApi>,
    pub uploader: Arc<Uploader>,
    pub rt: tokio::runtime::Handle,
    pub progress: Option<HostProgress>,
    pub stores: Arc<crate::store::Stores>,
    pub mode: crate::config::Mode,
    pub timing: (HostClock, Arc<TimerQueue>, RequestRunner),
    pub rx: IntakeRx,
    pub ready: tokio::sync::oneshot::Sender<Result<(), Diagnostic>>,
    pub stopping: Arc<AtomicBool>,
}

/// How often, at most, the timers in the status are republished during a
/// burst of events.
const STATUS_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// The thread's body.
pub fn run(start: ThreadStart) {
    let ThreadStart {
        mut opts,
        place,
        shared,
        mut rx,
        ready,
        stopping,
        ..
    } = start;
    let (clock, queue, runner) = start.timing;
    let timing = (clock, queue, rx.timer_lane());
    let callbacks = Callbacks::new(timing, runner, start.progress.clone(), place);
    let bridge = Rc::new(HostBridge {
        members: Rc::new(RefCell::new(MemberTable::default())),
        outbox: start.outbox,
        http: start.http,
        uploader: start.uploader,
        rt: start.rt,
        service_id: Rc::new(RefCell::new(String::new())),
        stores: start.stores,
        callbacks,
        shared: shared.clone(),
        place,
        fresh_agents: RefCell::default(),
        mode: start.mode,
        cause: RefCell::new(None),
    });
    let progress = start.progress;
    // Replaced when a reload brings a new version.
    let Some(mut script) = first_load(&opts, &bridge, place, &shared, ready) else {
        return;
    };
    let mut timers_shown = (0, std::time::Instant::now());
    let mut held = Versions::started(bridge.uploader.base_dir());
    while let Some(event) = rx.blocking_recv() {
        let (event, countdown) = match event {
            HostEvent::Shared { event, countdown } => (*event, Some(countdown)),
            other => (other, None),
        };
        let (event, delivery) = match event {
            HostEvent::Clustered { event, delivery } => {
                if !delivery.valid() || stopping.load(Ordering::SeqCst) {
                    // The partition moved on: its next owner handles this.
                    delivery.finish(false);
                    continue;
                }
                bridge.set_cause(Some(crate::host::bridge::Cause::of(&delivery)));
                (*event, Some(delivery))
            }
            other => (other, None),
        };
        let kind = match &event {
            HostEvent::Shutdown => break,
            // A reload round waits for every thread's vote: never skipped
            // (nor a deploy's step, which may be a round too).
            HostEvent::Reload(_) | HostEvent::Deploy(_) => Handled::Own,
            _ if stopping.load(Ordering::SeqCst) => continue,
            HostEvent::Inbound(_) | HostEvent::Message { .. } => Handled::Upward,
            HostEvent::Response { .. } => Handled::Response,
            _ => Handled::Own,
        };
        // What the canary counts: the calls of the service's handlers.
        let counted = !matches!(
            event,
            HostEvent::Reload(_) | HostEvent::Deploy(_) | HostEvent::Inspect(_)
        );
        let began = std::time::Instant::now();
        match event {
            HostEvent::Deploy(step) => {
                let parts = ThreadParts {
                    script: &mut script,
                    opts: &mut opts,
                    bridge: &bridge,
                    shared: &shared,
                    place,
                    stopping: stopping.load(Ordering::SeqCst),
                };
                versions::step(&mut held, parts, step)
            }
            HostEvent::Reload(req) => {
                let stop = stopping.load(Ordering::SeqCst);
                apply::apply(
                    &mut script,
                    &bridge,
                    &mut opts,
                    &shared.status,
                    req,
                    place,
                    stop,
                )
            }
            other => handlers::handle(&mut script, &bridge, other),
        }
        let took = began.elapsed();
        let failed = after_event(
            &mut script,
            &bridge,
            &shared,
            place,
            &mut timers_shown,
            rx.is_empty(),
        );
        if counted {
            if let Some(stats) = shared.versions.stats.get(place.index) {
                stats.record(took, 1, u64::from(failed > 0));
            }
        }
        if countdown.is_none_or(|c| c.fetch_sub(1, Ordering::SeqCst) == 1) {
            mark_handled(&bridge.outbox, progress.as_ref(), kind);
        }
        if let Some(delivery) = delivery {
            bridge.set_cause(None);
            // Acknowledged once its frames were handed on (appended to `down`).
            let barrier = Barrier::new(move || delivery.finish(true));
            let _ = bridge.outbox.send_blocking(Downward::Barrier(barrier));
        }
    }
}

/// Compiles the service on this thread and reports whether it did; thread
/// 0 publishes the first version.
fn first_load(
    opts: &CompileOptions,
    bridge: &Rc<HostBridge>,
    place: Place,
    shared: &Shared,
    ready: tokio::sync::oneshot::Sender<Result<(), Diagnostic>>,
) -> Option<ServiceScript> {
    match ServiceScript::load(opts, bridge.clone()) {
        Ok(s) => {
            if place.leads() {
                let files = s.display_files(opts);
                shared.status.send_modify(|st| {
                    st.version = 1;
                    st.threads = place.threads;
                    st.loaded_at_ms = now_ms();
                    st.files = files;
                });
            }
            let _ = ready.send(Ok(()));
            Some(s)
        }
        Err(d) => {
            let _ = ready.send(Err(d));
            None
        }
    }
}

/// After every event: the handler's writes made durable, its errors and
/// the timers published. How many handler calls failed.
fn after_event(
    script: &mut ServiceScript,
    bridge: &HostBridge,
    shared: &Shared,
    place: Place,
    timers_shown: &mut (u64, std::time::Instant),
    idle: bool,
) -> usize {
    // A handler's writes are durable before anyone is told it ran.
    if let Err(e) = bridge.commit_stores() {
        tracing::error!("{e}");
    }
    // Published before the event counts as handled, so that whoever waits
    // for it (a scenario test) sees its errors.
    let failures = script.take_failures();
    let failed = failures.len();
    if !failures.is_empty() {
        let shown = failures.iter().map(ToString::to_string).collect();
        shared.status.send_modify(|st| st.note_errors(shown));
    }
    // Republished when the timers changed, at most every STATUS_EVERY while
    // events keep coming (a burst of firings), and once it ends.
    let generation = bridge.callbacks.timers_generation();
    let due = idle || timers_shown.1.elapsed() >= STATUS_EVERY;
    if generation != timers_shown.0 && due {
        *timers_shown = (generation, std::time::Instant::now());
        publish_timers(&bridge.callbacks, shared, place);
    }
    failed
}

/// The pending timers, for the dev page and the metrics.
fn publish_timers(callbacks: &Callbacks, shared: &Shared, place: Place) {
    let now = now_ms();
    let mine = callbacks
        .first_timers(crate::host::threads::shared::STATUS_TIMERS)
        .into_iter()
        .map(|t| TimerStatus {
            id: t.id,
            function: t.callback,
            due_at_ms: now.saturating_add(t.due_in_ms),
            every_ms: t.period_ms,
        })
        .collect();
    let (timers, pending) = shared
        .board
        .update(place.index, mine, callbacks.timers_pending());
    crate::metrics::TIMERS.set(pending as f64);
    shared.status.send_modify(|st| {
        st.timers = timers;
        st.timers_pending = pending;
    });
}

/// For drivers that wait on progress (see `progress.rs`): counts the event
/// once the items its handler queued were handed to the link.
fn mark_handled(outbox: &OutboxSender, progress: Option<&HostProgress>, kind: Handled) {
    if let Some(p) = progress {
        let p = p.clone();
        let barrier = Barrier::new(move || p.handled(kind));
        let _ = outbox.send_blocking(Downward::Barrier(barrier));
    }
}
