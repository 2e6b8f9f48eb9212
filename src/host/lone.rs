//! The lone host's run: one process that runs the script and holds the
//! platform session itself (a cluster's node is `node/`). The order has the
//! differences docs/ARCHITECTURE.md explains: nothing touches the network
//! before the script compiled and the stores opened, the service is created
//! before connecting, and it stops in order (see [`stop_in_order`]).

use crate::config::Config;
use crate::host::events::HostEvent;
use crate::host::outbox;
use crate::host::run::{self, Controls, ScriptSide, Started};
use crate::host::session::upward::Upward;
use crate::host::session::{Connection, Session};
use crate::host::{HostError, HostOptions, ServicePaths};
use tokio::task::JoinHandle;

/// Runs the service until told to stop.
pub(super) async fn run(
    config: Config,
    paths: ServicePaths,
    mut options: HostOptions,
    controls: Controls,
) -> Result<(), HostError> {
    let Controls {
        mut stop,
        started,
        script,
        link: link_state,
        serving,
    } = controls;
    let http = run::http_api(&config)?;
    let (side, outbox_rx) =
        ScriptSide::start(&config, &paths, &mut options, &http, &script, None).await?;
    let session = Session {
        config: &config,
        http: http.clone(),
        lease: None,
        link_state,
        progress: options.progress.clone(),
    };
    // In user mode the user's own id stands where the service id would.
    let Some(id) = session.sign_in(&mut stop).await? else {
        // Only a session with a lease gives up without an error.
        side.stop_script().await;
        return Ok(());
    };
    // The link stops last, after what the handlers sent was flushed.
    let (connection, link_events) = session.connect(&id);
    let outbox_task = outbox::spawn(
        http,
        side.uploader.clone(),
        outbox::FrameSink::Link(connection.link.clone()),
        id.clone(),
        outbox_rx,
        options.progress.clone(),
    );
    let upward = Upward::Local {
        events: side.executor.sender(),
        outbox: side.outbox.clone(),
    };
    side.executor.send(HostEvent::BeforeChannelInit {
        service_id: id.clone(),
    });
    let served = session.bind(&id, &upward).await?;
    side.executor.send(HostEvent::Start);
    let timers = session.spawn_timers(&upward, &served);
    let info = Started {
        service_id: id,
        channels: served,
    };
    let _ = serving.send(true);
    let channels = info.channels.clone();
    let started = Some((started, info));
    session
        .dispatch(link_events, upward, &channels, started, &mut stop)
        .await;
    let _ = serving.send(false);
    connection.stop_reporting();
    stop_in_order(side, timers, outbox_task, connection).await;
    Ok(())
}

/// Stops in order: no more events are taken, the current handler finishes
/// (events queued behind it are dropped), what the handlers sent is handed
/// to the link and written, and the link closes once the platform
/// acknowledged it, within [`crate::timeouts::FLUSH_BOUND`]. Idle, this
/// takes milliseconds.
async fn stop_in_order(
    side: ScriptSide,
    timers: Vec<JoinHandle<()>>,
    outbox_task: JoinHandle<()>,
    connection: Connection,
) {
    tracing::info!("stopping");
    timers.iter().for_each(|t| t.abort());
    let deadline = side.stop(outbox_task).await;
    connection.close(deadline).await;
    tracing::info!("stopped");
}
