//! The host: joins the platform client, the member table and the script.
//!
//! [`Host::start`] starts a service and returns a [`RunningHost`]; the whole
//! life of a lone service is in `lone.rs`: load and compile first (a broken
//! config or script never touches the network), then the platform session
//! (`session/`: sign in, connect, bind channels, initialise them through the
//! script, and dispatch platform events to handlers) until shutdown. A
//! cluster's node (`node/`) is made of the same parts (`run.rs`).

mod bridge;
mod callbacks;
mod cause;
pub mod deploy;
mod events;
mod handle;
mod lone;
mod node;
mod outbox;
mod probe;
mod progress;
mod reload;
mod run;
mod session;
mod status;
mod threads;

pub use bridge::members::MemberTable;
pub use callbacks::requests::Responder;
pub use callbacks::timers::VirtualClock;
pub use events::{KeepAlive, NewSource};
pub use handle::{Host, ReloadResult, RunningHost};
pub use probe::{HostProbe, Readiness, SpellError};
pub use progress::{HostProgress, ProgressCounters};
pub use reload::bundle::BundleOptions;
pub use reload::stage::{StepError, Versions};
pub use run::Started;
pub use status::{ClusterStatus, DeployStatus, ScriptStatus, TimerStatus};

use crate::config::ConfigError;
use crate::platform::PlatformError;
use crate::script::Diagnostic;
use std::path::PathBuf;

/// Where a service lives: its directory (scripts' relative paths such as
/// `resources/avatar.png` resolve against it) and its entry script.
#[derive(Debug, Clone)]
pub struct ServicePaths {
    pub dir: PathBuf,
    pub script: PathBuf,
}

impl ServicePaths {
    /// The project's layout: `DIR/scripts/service.rhai`.
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        ServicePaths {
            script: dir.join("scripts").join("service.rhai"),
            dir,
        }
    }
}

/// How the host runs, beyond the config.
#[derive(Debug)]
pub struct HostOptions {
    /// Reload when files under the scripts directory change.
    pub watch: bool,
    /// Reload on SIGHUP (for deployments that push files without a watcher).
    pub reload_on_sighup: bool,
    /// Receives the script's status (version, reload errors).
    pub status: Option<tokio::sync::watch::Sender<ScriptStatus>>,
    /// Serving a bundle: watch its file and swap versions live (instead of
    /// watching the scripts directory, which is the bundle's private copy).
    pub bundle: Option<BundleOptions>,
    /// Counts handled events and applied frames, so that an in-process
    /// driver (scenario tests) can wait for the service to settle.
    pub progress: Option<HostProgress>,
    /// Timers follow this clock, moved by the driver (scenario tests).
    pub virtual_clock: Option<VirtualClock>,
    /// Answers scripts' requests instead of the network (scenario tests).
    pub responder: Option<std::sync::Arc<dyn Responder>>,
    /// The deployed version the script is (a restart on the last promoted
    /// deploy, docs/DEPLOY.md): shown as the threads' version and pinned
    /// against file saves.
    pub version: Option<crate::deploy::VersionTag>,
    /// What a bundle fetched while the host runs may cost to read (a
    /// cluster node's deploys): `run`'s `--max-...` options, as for its
    /// `--bundle` and a lone host's deploys.
    pub bundle_limits: crate::bundle::BundleLimits,
}

impl Default for HostOptions {
    fn default() -> Self {
        HostOptions {
            watch: true,
            reload_on_sighup: false,
            status: None,
            bundle: None,
            progress: None,
            virtual_clock: None,
            responder: None,
            version: None,
            bundle_limits: crate::bundle::BundleLimits::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Script(#[from] Diagnostic),
    #[error("sign-in as {email} failed: {source}")]
    SignIn {
        email: String,
        source: PlatformError,
    },
    /// The config names a service the signed-in account does not have (a
    /// restarted sandbox keeps no services): the config is stale.
    #[error("{file}: {key} {service_id:?} is not a service of {email} on this platform (a sandbox keeps nothing across restarts): set it to \"\" to create a new service, and check `channels` (`moobius-host sandbox --service DIR` points a directory at a fresh sandbox)")]
    UnknownService {
        file: String,
        key: &'static str,
        service_id: String,
        email: String,
    },
    #[error("{0}")]
    Platform(#[from] PlatformError),
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    /// The cluster's Redis cannot be reached, or used as it is (it may evict).
    #[error("{0}")]
    Cluster(#[from] crate::cluster::ClusterError),
}

impl HostError {
    /// 2 for problems in the author's files (config, script), 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            HostError::Config(_) | HostError::Script(_) | HostError::UnknownService { .. } => 2,
            _ => 1,
        }
    }
}
