//! The sandbox: an embedded local Moobius platform on loopback.
//!
//! The real platform is not reachable from a developer's machine or from CI,
//! and trying a service with several users means juggling browser windows.
//! The sandbox is a real HTTP + WebSocket server that speaks the platform's
//! wire protocol (docs/PROTOCOL.md) to services and to user clients, keeps what
//! each user would see, and offers a small control API to act as users. This
//! file owns its lifecycle: listeners, optional TLS, the private temp dir.
//!
//! Layout: `state`/`view` hold the data (no I/O), `upward`/`downward`
//! translate events between users and services (`control::action` turns the
//! control API's convenient actions into a client's), `hub` tracks connections,
//! `ws`, `platform_api`, `files` and `control::api` are the network faces,
//! `page` is the dev page (at `/`, sharing the path with the WebSocket),
//! `router` glues them into one router, `tls` mints certificates.

mod control;
mod devpage;
mod downward;
mod faults;
mod files;
mod hub;
mod platform_api;
mod router;
mod shared;
mod state;
mod tls;
mod upward;
mod view;
mod ws;

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::task::JoinHandle;

pub use control::action::{ClickArgument, ControlAction, DEFAULT_BOTTOM_BUTTON};
pub use control::{ChannelSummary, Connections, ControlError, SandboxControl, UserInfo};
pub use faults::{FaultRequest, FaultState};
pub use shared::SpellHook;
pub use state::{CharacterSummary, FrameStats, GroupBounds, Stats};
pub use upward::UserAction;
pub use view::{View, ViewChannelInfo, ViewCharacter, ViewEvent, ViewMessage};
pub use ws::MAX_FAILED_LOGINS;

use shared::Shared;

/// How long `shutdown` waits for a listener task before abandoning it.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Where and how to listen.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// Plain HTTP/WS listener; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Also serve HTTPS/WSS on a second port (same IP) with a generated CA.
    pub tls: bool,
    /// How many groups the sandbox keeps (the least recently used go first).
    pub groups: GroupBounds,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: false,
            groups: GroupBounds::default(),
        }
    }
}

/// Addresses of a running sandbox, as printed for other processes.
#[derive(Debug, Clone, Serialize)]
pub struct ReadyInfo {
    pub http: String,
    pub ws: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub https: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<PathBuf>,
}

/// Why the sandbox could not start.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot create the sandbox's private directory: {0}")]
    TempDir(std::io::Error),
    #[error("cannot write the CA certificate: {0}")]
    WriteCa(std::io::Error),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
}

/// A private directory (mode 0700 on Unix) removed when dropped.
#[derive(Debug)]
struct PrivateDir(PathBuf);

impl PrivateDir {
    fn create() -> std::io::Result<Self> {
        let path =
            std::env::temp_dir().join(format!("moobius-sandbox-{}", uuid::Uuid::new_v4().simple()));
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&path)?;
        Ok(Self(path))
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        if let Err(err) = std::fs::remove_dir_all(&self.0) {
            tracing::debug!(%err, path = %self.0.display(), "could not remove the sandbox directory");
        }
    }
}

/// A running sandbox. Call `shutdown` to stop it and wait; dropping it
/// stops it without waiting.
#[derive(Debug)]
pub struct Sandbox {
    shared: Arc<Shared>,
    ready: ReadyInfo,
    servers: Vec<(axum_server::Handle, JoinHandle<()>)>,
    _dir: PrivateDir,
}

fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), SandboxError> {
    let bound = TcpListener::bind(addr)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .and_then(|l| l.local_addr().map(|a| (l, a)));
    bound.map_err(|source| SandboxError::Bind { addr, source })
}

/// `scheme://ip:port/`; a wildcard listen address is advertised as loopback,
/// which is what clients on this machine can dial.
fn base_url(scheme: &str, addr: SocketAddr) -> String {
    format!("{scheme}://{}/", dialable(addr))
}

fn dialable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => {
            SocketAddr::from(([127, 0, 0, 1], addr.port()))
        }
        ip if ip.is_unspecified() => SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, addr.port())),
        _ => addr,
    }
}

impl Sandbox {
    /// Binds the listener(s) and starts serving. Must run inside a Tokio
    /// runtime.
    pub async fn start(opts: SandboxOptions) -> Result<Sandbox, SandboxError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = PrivateDir::create().map_err(SandboxError::TempDir)?;
        let files_dir = dir.0.join("files");
        std::fs::create_dir(&files_dir).map_err(SandboxError::TempDir)?;

        // Everything that can fail happens before anything is spawned.
        let (listener, addr) = bind(opts.listen)?;
        let secure = if opts.tls {
            let material = tls::generate()?;
            let ca_path = dir.0.join("ca.pem");
            std::fs::write(&ca_path, &material.ca_pem).map_err(SandboxError::WriteCa)?;
            let (listener, addr) = bind(SocketAddr::new(addr.ip(), 0))?;
            Some((material, ca_path, listener, addr))
        } else {
            None
        };

        let shared = Arc::new(Shared::new(files_dir, opts.groups));
        let http = base_url("http", addr);
        let mut ready = ReadyInfo {
            http: http.clone(),
            ws: format!("ws://{}/ws", dialable(addr)),
            wss: None,
            https: None,
            ca_pem: None,
        };
        let mut servers = Vec::new();
        let handle = axum_server::Handle::new();
        let app = router::build(shared.clone(), http);
        // Small frames must not wait for Nagle's algorithm (40 ms stalls).
        let server = axum_server::from_tcp(listener)
            .acceptor(axum_server::accept::NoDelayAcceptor::new())
            .handle(handle.clone());
        let task = spawn_server("http", server.serve(app.into_make_service()));
        servers.push((handle, task));

        if let Some((material, ca_path, listener, addr)) = secure {
            let https = base_url("https", addr);
            ready.https = Some(https.clone());
            ready.wss = Some(format!("wss://{}/ws", dialable(addr)));
            ready.ca_pem = Some(ca_path);
            let config = axum_server::tls_rustls::RustlsConfig::from_config(material.server_config);
            let handle = axum_server::Handle::new();
            let app = router::build(shared.clone(), https);
            let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(config)
                .acceptor(axum_server::accept::NoDelayAcceptor::new());
            let server = axum_server::from_tcp(listener)
                .acceptor(acceptor)
                .handle(handle.clone());
            let task = spawn_server("https", server.serve(app.into_make_service()));
            servers.push((handle, task));
        }
        tracing::info!(http = %ready.http, https = ?ready.https, "sandbox listening");
        Ok(Sandbox {
            shared,
            ready,
            servers,
            _dir: dir,
        })
    }

    pub fn ready_info(&self) -> ReadyInfo {
        self.ready.clone()
    }

    /// `http://127.0.0.1:PORT/` (trailing slash).
    pub fn http_url(&self) -> String {
        self.ready.http.clone()
    }

    /// `ws://127.0.0.1:PORT/ws`.
    pub fn ws_url(&self) -> String {
        self.ready.ws.clone()
    }

    pub fn control(&self) -> SandboxControl {
        SandboxControl::new(self.shared.clone())
    }

    /// Stops the listeners and every connection, then removes the private
    /// directory.
    pub async fn shutdown(mut self) {
        self.stop_accepting();
        for (_, task) in std::mem::take(&mut self.servers) {
            let abort = task.abort_handle();
            if tokio::time::timeout(STOP_TIMEOUT, task).await.is_err() {
                abort.abort();
            }
        }
        tracing::info!("sandbox stopped");
    }

    /// Tells listeners and connection tasks to stop; does not wait.
    fn stop_accepting(&self) {
        self.shared.trigger_shutdown();
        for (handle, _) in &self.servers {
            handle.shutdown();
        }
    }
}

impl Drop for Sandbox {
    /// A sandbox dropped without `shutdown` (say, by a failing test) still
    /// stops serving; its directory goes with `PrivateDir`'s own drop.
    fn drop(&mut self) {
        self.stop_accepting();
    }
}

fn spawn_server<F>(name: &'static str, serve: F) -> JoinHandle<()>
where
    F: std::future::Future<Output = std::io::Result<()>> + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(err) = serve.await {
            tracing::error!(listener = name, %err, "sandbox listener failed");
        }
    })
}
