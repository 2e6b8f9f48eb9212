//! The script thread: runs handlers one at a time, in arrival order.
//!
//! Rhai's engine and values cannot leave the thread that made them (no
//! `sync` feature: faster, and the script needs no locks), so the engine is
//! built here and everything else talks to it through a queue of
//! [`HostEvent`]s. Member-table updates happen here too, right before the
//! handler that should see them, which makes `fetch_member_ids` consistent
//! with the event being handled.

use super::agents::AgentBook;
use super::bridge::HostBridge;
use super::callbacks::{Callback, Callbacks};
use super::events::{HostEvent, Inspection};
use super::members::MemberTable;
use super::outbox::{Barrier, Downward, OutboxSender};
use super::progress::HostProgress;
use super::reload;
use super::requests::{RequestRunner, Responder};
use super::status::{now_ms, ScriptStatus, TimerStatus};
use super::timers::{self, HostClock, TimerQueue, VirtualClock};
use super::user_events;
use crate::config::RequestPolicy;
use crate::platform::{HttpApi, Uploader};
use crate::protocol::{Click, Inbound, MessageUp, SimpleAction};
use crate::script::{CompileOptions, Diagnostic, ServiceScript};
use rhai::{Dynamic, Map};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use tokio::sync::{mpsc, watch};

/// What the script thread needs from the async side.
pub struct ExecutorDeps {
    pub outbox: OutboxSender,
    pub http: Arc<HttpApi>,
    pub uploader: Arc<Uploader>,
    pub rt: tokio::runtime::Handle,
    pub status: watch::Sender<ScriptStatus>,
    /// When set, every handled event is followed by a counting barrier (see `progress.rs`).
    pub progress: Option<HostProgress>,
    /// Shared by every script thread (see `Stores` on threads).
    pub stores: Arc<crate::store::Stores>,
    /// What scripts' `request(...)` may do.
    pub requests: RequestPolicy,
    /// Answers requests instead of the network (scenario tests).
    pub responder: Option<Arc<dyn Responder>>,
    /// Timers follow this clock instead of wall time (scenario tests).
    pub virtual_clock: Option<VirtualClock>,
    /// `service_mode: false`.
    pub user_mode: bool,
}

pub struct Executor {
    tx: mpsc::UnboundedSender<HostEvent>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Set at shutdown: events still queued are dropped, not handled.
    stopping: Arc<std::sync::atomic::AtomicBool>,
    /// Fires timers on wall time (none under a virtual clock).
    clock_task: Option<tokio::task::JoinHandle<()>>,
}

/// What kind of event a barrier counts (see `progress.rs`).
#[derive(Clone, Copy)]
enum Handled {
    /// A platform event.
    Upward,
    /// The host's own: lifecycle steps, reloads, timers.
    Own,
    /// A request's callback.
    Response,
}

impl Executor {
    /// Starts the script thread and compiles the service there. Returns the
    /// diagnostic when the script does not compile (nothing else has run).
    pub async fn start(opts: CompileOptions, deps: ExecutorDeps) -> Result<Self, Diagnostic> {
        let (tx, rx) = mpsc::unbounded_channel::<HostEvent>();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<Result<(), Diagnostic>>();
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
            deps.responder.clone(),
            tx.clone(),
            deps.rt.clone(),
        );
        let timing = (clock, queue, runner);
        let stopping = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop_flag = stopping.clone();
        let thread = std::thread::Builder::new()
            .name("script".into())
            .stack_size(crate::script::SCRIPT_THREAD_STACK)
            .spawn(move || script_thread(opts, deps, timing, rx, ready_tx, stop_flag))
            .map_err(|e| {
                Diagnostic::plain("(host)", format!("cannot start the script thread: {e}"))
            })?;
        let executor = Executor {
            tx,
            thread: Some(thread),
            stopping,
            clock_task,
        };
        match ready_rx.await {
            Ok(Ok(())) => Ok(executor),
            Ok(Err(d)) => Err(d),
            Err(_) => Err(Diagnostic::plain(
                "(host)",
                "the script thread stopped while compiling",
            )),
        }
    }

    pub fn send(&self, event: HostEvent) {
        let _ = self.tx.send(event);
    }

    pub fn sender(&self) -> mpsc::UnboundedSender<HostEvent> {
        self.tx.clone()
    }

    /// Asks the thread to stop after the event it is handling and waits for
    /// it, at most `grace` (a handler stuck in a long call is left behind; the
    /// process is about to end anyway).
    pub async fn stop(mut self, grace: std::time::Duration) {
        if let Some(task) = self.clock_task.take() {
            task.abort();
        }
        self.stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = self.tx.send(HostEvent::Shutdown);
        if let Some(t) = self.thread.take() {
            let join = tokio::task::spawn_blocking(move || t.join());
            if tokio::time::timeout(grace, join).await.is_err() {
                tracing::warn!("a handler was still running at shutdown");
            }
        }
    }
}

/// The script thread: compiles, reports ready, then handles events one at
/// a time until shutdown.
fn script_thread(
    mut opts: CompileOptions,
    deps: ExecutorDeps,
    (clock, queue, runner): (HostClock, Arc<TimerQueue>, RequestRunner),
    mut rx: mpsc::UnboundedReceiver<HostEvent>,
    ready_tx: tokio::sync::oneshot::Sender<Result<(), Diagnostic>>,
    stopping: Arc<std::sync::atomic::AtomicBool>,
) {
    // Built here: it holds Rhai values, which stay on this thread.
    let callbacks = Callbacks::new(clock, queue, runner, deps.progress.clone());
    let agents = AgentBook::open(&deps.uploader.base_dir());
    let bridge = Rc::new(HostBridge {
        members: Rc::new(RefCell::new(MemberTable::default())),
        outbox: deps.outbox,
        http: deps.http,
        uploader: deps.uploader,
        rt: deps.rt,
        service_id: Rc::new(RefCell::new(String::new())),
        stores: deps.stores,
        callbacks,
        agents: RefCell::new(agents),
        user_mode: deps.user_mode,
    });
    let status = deps.status;
    let progress = deps.progress;
    // Replaced when a reload brings a new source (a swapped bundle).
    let mut script = match ServiceScript::load(&opts, bridge.clone()) {
        Ok(s) => {
            let files = s.display_files(&opts);
            status.send_modify(|st| {
                st.version = 1;
                st.loaded_at_ms = now_ms();
                st.files = files;
            });
            let _ = ready_tx.send(Ok(()));
            s
        }
        Err(d) => {
            let _ = ready_tx.send(Err(d));
            return;
        }
    };
    let mut timers_shown = (0, std::time::Instant::now());
    while let Some(event) = rx.blocking_recv() {
        let kind = match &event {
            HostEvent::Shutdown => break,
            _ if stopping.load(std::sync::atomic::Ordering::SeqCst) => continue,
            HostEvent::Inbound(_) | HostEvent::Message { .. } => Handled::Upward,
            HostEvent::Response { .. } => Handled::Response,
            _ => Handled::Own,
        };
        match event {
            HostEvent::Reload(req) => reload::apply(&mut script, &bridge, &mut opts, &status, req),
            other => handle(&mut script, &bridge, other),
        }
        // A handler's writes are durable before anyone is told it ran.
        if let Err(e) = bridge.commit_stores() {
            tracing::error!("{e}");
        }
        // Published before the event counts as handled, so that whoever
        // waits for it (a scenario test) sees its errors.
        let failures = script.take_failures();
        if !failures.is_empty() {
            let shown = failures.iter().map(ToString::to_string).collect();
            status.send_modify(|st| st.note_errors(shown));
        }
        // Republished when the timers changed, at most every STATUS_EVERY
        // while events keep coming (a burst of firings), and once it ends.
        let generation = bridge.callbacks.timers_generation();
        let pending = bridge.callbacks.timers_pending() as f64;
        crate::metrics::TIMERS.set(pending);
        let due = rx.is_empty() || timers_shown.1.elapsed() >= STATUS_EVERY;
        if generation != timers_shown.0 && due {
            timers_shown = (generation, std::time::Instant::now());
            publish_timers(&bridge.callbacks, &status);
        }
        mark_handled(&bridge, progress.as_ref(), kind);
    }
}

/// How often, at most, the timers in the status are republished during a
/// burst of events.
const STATUS_EVERY: std::time::Duration = std::time::Duration::from_millis(250);
/// Timers listed in the status (the count covers the rest).
const STATUS_TIMERS: usize = 20;

/// The pending timers, for the dev page.
fn publish_timers(callbacks: &Callbacks, status: &watch::Sender<ScriptStatus>) {
    let now = now_ms();
    let pending = callbacks.timers_pending();
    let timers = callbacks
        .first_timers(STATUS_TIMERS)
        .into_iter()
        .map(|t| TimerStatus {
            id: t.id,
            function: t.callback,
            due_at_ms: now.saturating_add(t.due_in_ms),
            every_ms: t.period_ms,
        })
        .collect();
    status.send_modify(|st| {
        st.timers = timers;
        st.timers_pending = pending;
    });
}

/// For drivers that wait on progress (see `progress.rs`): counts the event
/// once the items its handler queued were handed to the link.
fn mark_handled(bridge: &HostBridge, progress: Option<&HostProgress>, kind: Handled) {
    if let Some(p) = progress {
        let p = p.clone();
        let barrier = Barrier::new(move || match kind {
            Handled::Upward => p.handled(true),
            Handled::Own => p.handled(false),
            Handled::Response => p.request_finished(),
        });
        let _ = bridge.outbox.send_blocking(Downward::Barrier(barrier));
    }
}

/// `on_spell(value)`: its return value as JSON, or why there is none.
fn spell(
    script: &mut ServiceScript,
    value: serde_json::Value,
) -> Result<serde_json::Value, String> {
    let arg = crate::script::from_json(&value);
    match script.call_returning("on_spell", vec![arg]) {
        Ok(Some(v)) => rhai::serde::from_dynamic(&v)
            .map_err(|e| format!("on_spell returned a value that is not JSON: {e}")),
        Ok(None) => Err("the script defines no on_spell(value)".into()),
        Err(d) => {
            tracing::error!(handler = "on_spell", "{d}");
            Err(d.to_string())
        }
    }
}

/// Calls what a timer or a request asked for; a missing function is
/// reported once (and a timer dropped). A request's callback may take the
/// response alone.
fn call_back(
    script: &mut ServiceScript,
    bridge: &HostBridge,
    mut cb: Callback,
    timer: Option<u64>,
) {
    let has = |n| script.has_function(&cb.function, n);
    if timer.is_none() && !has(2) && has(1) {
        cb.args.truncate(1);
    }
    if script.has_function(&cb.function, cb.args.len()) {
        run(script, &cb.function, cb.args);
    } else {
        bridge.callbacks.missing(&cb, timer);
    }
}

fn action_map(a: &SimpleAction) -> Dynamic {
    let mut m = Map::new();
    m.insert("subtype".into(), a.subtype.clone().into());
    m.insert("channel_id".into(), a.channel_id.clone().into());
    m.insert("sender".into(), a.sender.clone().into());
    let context = a
        .context
        .as_ref()
        .and_then(|c| rhai::serde::to_dynamic(c).ok())
        .unwrap_or_else(|| Dynamic::from_map(Map::new()));
    m.insert("context".into(), context);
    Dynamic::from_map(m)
}

fn message_map(m: MessageUp, recipients: Vec<String>) -> Dynamic {
    let value = serde_json::json!({
        "subtype": m.subtype,
        "channel_id": m.channel_id,
        "content": m.content,
        "timestamp": m.timestamp,
        "recipients": recipients,
        "sender": m.sender,
        "message_id": m.message_id,
        "context": m.context.unwrap_or_else(|| serde_json::json!({})),
    });
    rhai::serde::to_dynamic(value).unwrap_or(Dynamic::UNIT)
}

fn click_map(c: Click) -> Dynamic {
    rhai::serde::to_dynamic(serde_json::Value::Object(c.body)).unwrap_or(Dynamic::UNIT)
}

pub(super) fn run(script: &mut ServiceScript, handler: &str, args: Vec<Dynamic>) {
    let started = std::time::Instant::now();
    let outcome = script.call(handler, args);
    if !matches!(outcome, Ok(false)) {
        let error = outcome.as_ref().err().map(|d| {
            if d.message.starts_with(&format!("{handler} aborted")) {
                "limit"
            } else {
                "runtime"
            }
        });
        crate::metrics::handler_ran(handler, started.elapsed(), error);
    }
    match outcome {
        Ok(true) => tracing::debug!(handler, "handled"),
        Ok(false) => tracing::trace!(handler, "not defined by the script"),
        Err(d) => tracing::error!(handler, "{d}"),
    }
}

fn resync(bridge: &HostBridge, channel_id: &str) {
    if let Err(e) = bridge.resync(channel_id) {
        tracing::warn!(%channel_id, error = %e, "member resync failed; keeping the previous member list");
    }
}

fn handle(script: &mut ServiceScript, bridge: &HostBridge, event: HostEvent) {
    match event {
        HostEvent::BeforeChannelInit { service_id } => {
            bridge.set_service_id(service_id);
            run(script, "before_channel_init", vec![]);
        }
        HostEvent::ChannelInit(ch) => {
            resync(bridge, &ch);
            if script.has("on_channel_init", 1) {
                run(script, "on_channel_init", vec![ch.into()]);
            } else {
                run(script, "on_channel_checkin", vec![ch.into()]);
            }
        }
        HostEvent::Checkin(ch) => {
            resync(bridge, &ch);
            run(script, "on_channel_checkin", vec![ch.into()]);
        }
        HostEvent::Start => run(script, "on_start", vec![]),
        HostEvent::Inbound(Inbound::Join(a)) => {
            bridge.members.borrow_mut().join(&a.channel_id, &a.sender);
            run(script, "on_join", vec![action_map(&a)]);
        }
        HostEvent::Inbound(Inbound::Leave(a)) => {
            bridge.members.borrow_mut().leave(&a.channel_id, &a.sender);
            run(script, "on_leave", vec![action_map(&a)]);
        }
        HostEvent::Inbound(Inbound::Refresh(a)) => run(script, "on_refresh", vec![action_map(&a)]),
        HostEvent::Message {
            message,
            recipients,
        } => run(
            script,
            "on_message_up",
            vec![message_map(message, recipients)],
        ),
        HostEvent::Inbound(Inbound::MessageUp(m)) => {
            run(script, "on_message_up", vec![message_map(m, Vec::new())])
        }
        HostEvent::Inbound(Inbound::ButtonClick(c)) => {
            run(script, "on_button_click", vec![click_map(c)])
        }
        HostEvent::Inbound(Inbound::MenuItemClick(c)) => {
            run(script, "on_menu_item_click", vec![click_map(c)])
        }
        HostEvent::Inbound(Inbound::Other(payload)) => {
            let value = rhai::serde::to_dynamic(&payload).unwrap_or(Dynamic::UNIT);
            run(script, "on_unknown_payload", vec![value]);
        }
        HostEvent::Spell { value, reply } => {
            let _ = reply.send(spell(script, value));
        }
        HostEvent::Inspect(reply) => {
            let _ = reply.send(Inspection {
                members: bridge.members.borrow().counts(),
                timers_pending: bridge.callbacks.timers_pending(),
            });
        }
        HostEvent::Timer(id) => {
            if let Some(cb) = bridge.callbacks.timer_fired(id) {
                call_back(script, bridge, cb, Some(id));
            }
        }
        HostEvent::Response { id, response } => {
            if let Some(cb) = bridge.callbacks.response(id, response) {
                call_back(script, bridge, cb, None);
            }
        }
        HostEvent::Inbound(Inbound::MessageDown(body)) => user_events::message_down(script, body),
        HostEvent::Inbound(Inbound::Update {
            subtype,
            channel_id,
            body,
        }) => user_events::update(script, bridge, &subtype, &channel_id, body),
        HostEvent::Inbound(Inbound::Copy(_) | Inbound::GatewayError | Inbound::Error { .. })
        | HostEvent::Reload(_)
        | HostEvent::Shutdown => {}
    }
}
