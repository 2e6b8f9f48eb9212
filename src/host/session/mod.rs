//! The service's life, in the SDK's order (docs/PROTOCOL.md 5.2), with the
//! differences docs/ARCHITECTURE.md explains: the service is created before connecting, the
//! login is sent once per connection, and handlers run strictly in order.

pub(super) mod channels;
pub(super) mod dispatch;
pub(super) mod tokens;

use crate::config::{write_service_id, Config};
use crate::host::events::HostEvent;
use crate::host::outbox;
use crate::host::reload::bundle;
use crate::host::reload::trigger;
use crate::host::threads::executor::{Executor, ExecutorDeps, ThreadDeps};
use crate::host::threads::shards::ScriptSlot;
use crate::host::HostError;
use crate::host::HostOptions;
use crate::host::ServicePaths;
use crate::platform::ws::{self, LinkOptions, LinkTarget, LoginFrame};
use crate::platform::{HttpApi, LinkEvent, Uploader, WsLink};
use crate::protocol::outbound;
use crate::script::watch::ScriptWatcher;
use crate::script::CompileOptions;
use dispatch::{Dispatcher, Upward};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, watch};

/// Sent once the service is connected, its channels initialised and
/// `on_start` queued: from then on, upward events reach the script.
#[derive(Debug, Clone)]
pub struct Started {
    pub service_id: String,
    pub channels: Vec<String>,
}

/// How the [`RunningHost`](crate::host::RunningHost) steers and observes the run.
pub(super) struct Controls {
    /// Becomes true to stop.
    pub stop: watch::Receiver<bool>,
    /// Told once the service serves.
    pub started: oneshot::Sender<Started>,
    /// Filled in with the script thread's queue once the script compiled.
    pub script: ScriptSlot,
    /// Receives the link's state, once there is a link.
    pub link: watch::Sender<crate::platform::LinkState>,
    /// Becomes true once the service serves (channels bound, on_start queued).
    pub serving: watch::Sender<bool>,
}

/// Runs the service until told to stop: a handful of steps, each below.
/// Nothing touches the network before the script compiled and the stores
/// opened.
pub(super) async fn run(
    config: Config,
    paths: ServicePaths,
    mut options: HostOptions,
    controls: Controls,
) -> Result<(), HostError> {
    if let Some(cluster) = config.cluster.clone() {
        return crate::host::node::run(config, cluster, paths, options, controls).await;
    }
    let Controls {
        stop: mut shutdown,
        started,
        script,
        link: link_state,
        serving,
    } = controls;
    let svc = &config.service;
    let http = http_api(&config)?;
    let uploader = Arc::new(Uploader::new(http.clone(), paths.dir.clone()));
    let (outbox_tx, outbox_rx) = outbox::OutboxSender::channel();
    let (executor, scripts_dir) =
        start_script(&config, &paths, &mut options, &http, &uploader, &outbox_tx).await?;
    let _ = script.set(executor.sender());
    let reloader = start_reloader(&mut options, &executor, &scripts_dir);
    let user_mode = !config.service.service_mode;
    // In user mode the user's own id stands where the service id would.
    let service_id = if user_mode {
        sign_in_as_user(&config, &http).await?
    } else {
        sign_in(&config, &http).await?
    };
    let (link_tx, link_rx) = mpsc::unbounded_channel();
    // The link stops last, after what the handlers sent was flushed.
    let (link_stop, link_stop_rx) = watch::channel(false);
    let (link, link_task) = connect(&config, &http, &service_id, link_tx, link_stop_rx, None);
    let forwarder = forward_link_state(link.state(), link_state);
    let outbox_task = outbox::spawn(
        http.clone(),
        uploader,
        outbox::FrameSink::Link(link.clone()),
        service_id.clone(),
        outbox_rx,
        options.progress.clone(),
    );
    let served = if user_mode {
        join_channels(&http, &service_id, svc, &executor, &outbox_tx).await
    } else {
        init_channels(&http, &service_id, svc, &executor, &outbox_tx).await?
    };
    let timers = spawn_timers(&config, &http, &executor, &served);
    let mut dispatcher = Dispatcher::new(Upward::Local(executor.sender()), http.clone());
    dispatcher.progress = options.progress.clone();
    let info = Started {
        service_id,
        channels: served,
    };
    let resync = if user_mode {
        Vec::new()
    } else {
        info.channels.clone()
    };
    let _ = serving.send(true);
    dispatch(
        link_rx,
        dispatcher,
        &executor,
        info,
        &resync,
        started,
        &mut shutdown,
    )
    .await;
    let _ = serving.send(false);
    forwarder.abort();

    let tasks = reloader.into_iter().chain(timers).collect();
    stop(
        executor,
        tasks,
        outbox_tx,
        outbox_task,
        link,
        link_task,
        link_stop,
    )
    .await;
    Ok(())
}

/// The platform's HTTP API as the config names it.
pub(super) fn http_api(config: &Config) -> Result<Arc<HttpApi>, HostError> {
    Ok(Arc::new(HttpApi::new(
        &config.service.http_server_uri,
        &config.account.email,
        config.account.password.clone(),
    )?))
}

/// Stops in order: no more events are taken, the current handler finishes
/// (events queued behind it are dropped), what the handlers sent is handed
/// to the link and written, and the link closes once the platform
/// acknowledged it, within [`crate::timeouts::FLUSH_BOUND`]. Idle, this takes milliseconds.
async fn stop(
    executor: Executor,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    outbox_tx: outbox::OutboxSender,
    outbox_task: tokio::task::JoinHandle<()>,
    link: WsLink,
    mut link_task: tokio::task::JoinHandle<()>,
    link_stop: watch::Sender<bool>,
) {
    tracing::info!("stopping");
    tasks.iter().for_each(|t| t.abort());
    executor.stop(crate::timeouts::SCRIPT_STOP_GRACE).await;
    let deadline = tokio::time::Instant::now() + crate::timeouts::FLUSH_BOUND;
    drop(outbox_tx);
    let _ = tokio::time::timeout_at(deadline, outbox_task).await;
    drop(link);
    if tokio::time::timeout_at(deadline, &mut link_task)
        .await
        .is_err()
    {
        tracing::warn!(bound = ?crate::timeouts::FLUSH_BOUND, "frames still unacknowledged at shutdown");
        let _ = link_stop.send(true);
        let _ = tokio::time::timeout(crate::timeouts::SCRIPT_STOP_GRACE, link_task).await;
    }
    tracing::info!("stopped");
}

/// Opens the stores and compiles the script on its thread. Returns the
/// executor and the directory imports resolve in (for the watcher).
pub(super) async fn start_script(
    config: &Config,
    paths: &ServicePaths,
    options: &mut HostOptions,
    http: &Arc<HttpApi>,
    uploader: &Arc<Uploader>,
    outbox: &outbox::OutboxSender,
) -> Result<(Executor, PathBuf), HostError> {
    let mut compile = CompileOptions::for_main(&paths.script).with_display_base(&paths.dir);
    compile.limits = config.script_limits.clone();
    let scripts_dir = compile.scripts_dir.clone();
    let status = options
        .status
        .take()
        .unwrap_or_else(|| watch::channel(Default::default()).0);
    // A locked database file or an unreachable Redis stops the start here.
    let stores = Arc::new(crate::store::Stores::open(&config.db_config)?);
    let deps = ExecutorDeps {
        base: ThreadDeps {
            outbox: outbox.clone(),
            http: http.clone(),
            uploader: uploader.clone(),
            rt: tokio::runtime::Handle::current(),
            progress: options.progress.clone(),
            requests: config.service.requests.clone(),
            request_budget: crate::host::callbacks::response_body::Budget::new(
                config.service.requests.budget_bytes,
            ),
            responder: options.responder.clone(),
            virtual_clock: options.virtual_clock.clone(),
            user_mode: !config.service.service_mode,
        },
        stores,
        status,
        threads: config.service.script_threads,
        data_dir: config.db_config.data_dir.clone(),
        agent_lock: crate::host::node::agent_lock(config),
    };
    let executor = Executor::start(compile, deps).await?;
    let threads = config.service.script_threads;
    tracing::info!(script = %paths.script.display(), threads, "script compiled");
    Ok((executor, scripts_dir))
}

/// Hot reload: a bundle's file, or the scripts directory (and SIGHUP).
pub(super) fn start_reloader(
    options: &mut HostOptions,
    executor: &Executor,
    scripts_dir: &Path,
) -> Option<tokio::task::JoinHandle<()>> {
    if let Some(b) = options.bundle.take() {
        let to = bundle::SwapTo {
            events: executor.sender(),
            status: executor.status(),
        };
        return Some(bundle::spawn(b, options.reload_on_sighup, to));
    }
    let watcher = options.watch.then(|| ScriptWatcher::new(scripts_dir)).and_then(|w| match w {
        Ok(w) => {
            tracing::info!(dir = %scripts_dir.display(), "watching for changes");
            Some(w)
        }
        Err(e) => {
            tracing::warn!(dir = %scripts_dir.display(), error = %e, "cannot watch the scripts; hot reload is off");
            None
        }
    });
    (watcher.is_some() || options.reload_on_sighup)
        .then(|| trigger::spawn_reloader(watcher, options.reload_on_sighup, executor.sender()))
}

/// Signs in, and creates the service when the config names none (saving its
/// id where the SDK would). Returns the service id.
async fn sign_in(config: &Config, http: &HttpApi) -> Result<String, HostError> {
    http.sign_in().await.map_err(|source| HostError::SignIn {
        email: config.account.email.clone(),
        source,
    })?;
    tracing::info!(email = %config.account.email, "signed in");
    if let Some(id) = &config.service.service_id {
        check_service_exists(config, http, id).await?;
        return Ok(id.clone());
    }
    let id = http.create_service("Generated by MoobiusService").await?;
    match write_service_id(&config.service_id_target, &id) {
        Ok(true) => tracing::info!(service_id = %id, "service created; id saved to the config"),
        Ok(false) => {
            tracing::info!(service_id = %id, "service created (not saved: the config is not a file)")
        }
        Err(e) => {
            tracing::warn!(service_id = %id, "service created but its id could not be saved: {e}")
        }
    }
    Ok(id)
}

/// Refuses a configured service id the account does not have, before any
/// connection: logging in with it would be refused on every reconnect.
async fn check_service_exists(config: &Config, http: &HttpApi, id: &str) -> Result<(), HostError> {
    if http
        .list_services()
        .await?
        .iter()
        .any(|s| s.service_id == id)
    {
        return Ok(());
    }
    let (file, key) = match &config.service_id_target {
        crate::config::ServiceIdTarget::TopLevel(p) => (p.clone(), "service_id"),
        _ => (config.source.clone(), "service_config.service_id"),
    };
    Err(HostError::UnknownService {
        file: file.display().to_string(),
        key,
        service_id: id.to_string(),
        email: config.account.email.clone(),
    })
}

/// Copies the link's state to the probe's channel (the probe exists before
/// the link does).
pub(super) fn forward_link_state(
    mut from: watch::Receiver<crate::platform::LinkState>,
    to: watch::Sender<crate::platform::LinkState>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let _ = to.send(from.borrow_and_update().clone());
            if from.changed().await.is_err() {
                return;
            }
        }
    })
}

/// User mode: signs in and learns the user's own id.
async fn sign_in_as_user(config: &Config, http: &HttpApi) -> Result<String, HostError> {
    http.sign_in().await.map_err(|source| HostError::SignIn {
        email: config.account.email.clone(),
        source,
    })?;
    let user_id = http.own_user_id().await?;
    tracing::info!(email = %config.account.email, %user_id, "signed in as a user (user mode)");
    Ok(user_id)
}

/// User mode: joins the configured channels the user is not a member of
/// yet (as the SDK does), between `before_channel_init` and `on_start`.
async fn join_channels(
    http: &HttpApi,
    user_id: &str,
    svc: &crate::config::ServiceConfig,
    executor: &Executor,
    outbox: &outbox::OutboxSender,
) -> Vec<String> {
    executor.send(HostEvent::BeforeChannelInit {
        service_id: user_id.to_string(),
    });
    for ch in &svc.channels {
        let member = match http.channel_members(ch, user_id).await {
            Ok(members) => members.iter().any(|m| m == user_id),
            Err(e) => {
                tracing::warn!(channel_id = %ch, error = %e, "cannot read the channel's members; joining");
                false
            }
        };
        if !member {
            let join = crate::script::UserFrame::Action(
                serde_json::json!({"subtype": "join_channel", "channel_id": ch, "context": {}})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            );
            let _ = outbox.send(outbox::Downward::User(join)).await;
        }
    }
    executor.send(HostEvent::Start);
    svc.channels.clone()
}

/// Starts the link, which logs in with the current token on every
/// connection (and, with a `fence`, writes only while it allows).
pub(super) fn connect(
    config: &Config,
    http: &Arc<HttpApi>,
    service_id: &str,
    events: mpsc::UnboundedSender<LinkEvent>,
    shutdown: watch::Receiver<bool>,
    fence: Option<ws::WriteFence>,
) -> (WsLink, tokio::task::JoinHandle<()>) {
    let svc = &config.service;
    let login: LoginFrame = {
        let http = http.clone();
        let sid = service_id.to_string();
        let user_mode = !svc.service_mode;
        Arc::new(move || {
            let request_id = uuid::Uuid::new_v4().to_string();
            let token = http.access_token();
            if user_mode {
                crate::protocol::user::user_login(&request_id, token.expose())
            } else {
                outbound::service_login(&request_id, token.expose(), &sid)
            }
        })
    };
    let target = LinkTarget {
        url: svc.ws_server_uri.clone(),
        login,
        http: http.clone(),
    };
    let options = LinkOptions {
        heartbeat: svc.heartbeat_interval,
        backoff_min: svc.reconnect_min,
        backoff_max: svc.reconnect_max,
        queue_limit: svc.outgoing_queue_limit,
        fence,
        ..LinkOptions::default()
    };
    ws::spawn(target, options, events, shutdown)
}

/// Binds the channels to serve and queues their initialisation:
/// `before_channel_init`, each channel's init (after its known groups were
/// fetched), then `on_start`.
async fn init_channels(
    http: &HttpApi,
    service_id: &str,
    svc: &crate::config::ServiceConfig,
    executor: &Executor,
    outbox: &outbox::OutboxSender,
) -> Result<Vec<String>, HostError> {
    executor.send(HostEvent::BeforeChannelInit {
        service_id: service_id.to_string(),
    });
    let served = channels::select(http, service_id, svc).await?;
    for ch in &served {
        match http.user_group_list(ch, service_id).await {
            Ok(groups) => {
                let _ = outbox.send(outbox::Downward::KnownGroups(groups)).await;
            }
            Err(e) => tracing::warn!(channel_id = %ch, error = %e, "group prefetch failed"),
        }
        executor.send(HostEvent::ChannelInit(ch.clone()));
    }
    executor.send(HostEvent::Start);
    Ok(served)
}

/// The periodic check-in of every channel, and the token renewals.
fn spawn_timers(
    config: &Config,
    http: &Arc<HttpApi>,
    executor: &Executor,
    served: &[String],
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut timers = Vec::new();
    // A user has no channels of its own to check in (as in the SDK).
    let checkin = config
        .service
        .checkin_interval
        .filter(|_| config.service.service_mode);
    if let Some(every) = checkin {
        let tx = executor.sender();
        let served = served.to_vec();
        timers.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            loop {
                tick.tick().await;
                for ch in &served {
                    if tx.send(HostEvent::Checkin(ch.clone())).is_err() {
                        return;
                    }
                }
            }
        }));
    }
    timers.extend(crate::host::session::tokens::spawn_timers(http));
    timers
}

/// Hands the link's events to the dispatcher until shutdown. The first
/// connection reports the host started; a reconnect re-syncs every channel.
async fn dispatch(
    mut link_rx: mpsc::UnboundedReceiver<LinkEvent>,
    mut dispatcher: Dispatcher,
    executor: &Executor,
    info: Started,
    resync: &[String],
    started: oneshot::Sender<Started>,
    shutdown: &mut watch::Receiver<bool>,
) {
    let mut started = Some(started);
    loop {
        tokio::select! {
            r = shutdown.changed() => if r.is_err() || *shutdown.borrow() { return },
            event = link_rx.recv() => match event {
                None => return,
                Some(LinkEvent::Connected { reconnect }) => {
                    if let Some(tx) = started.take() {
                        let _ = tx.send(info.clone());
                    }
                    if reconnect && !resync.is_empty() {
                        tracing::info!("reconnected: re-syncing every channel");
                        for ch in resync {
                            executor.send(HostEvent::Checkin(ch.clone()));
                        }
                    }
                }
                Some(LinkEvent::Frame(event)) => dispatcher.event(event).await,
                Some(LinkEvent::Text(text)) => dispatcher.frame(&text).await,
            },
        }
    }
}
