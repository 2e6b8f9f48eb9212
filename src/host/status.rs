//! What the running script is: its version, when it was loaded, from which
//! files, the last reload error and the last handler errors. `dev` prints changes; the dev page and
//! tests read it.

use serde::Serialize;

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ScriptStatus {
    /// 1 for the first load, +1 per successful reload (every script thread
    /// runs the same version).
    pub version: u64,
    /// How many script threads run it (`script_threads`).
    pub threads: usize,
    /// When the running version was loaded (ms since the Unix epoch).
    pub loaded_at_ms: u64,
    /// Files of the running version, relative to the service directory.
    pub files: Vec<String>,
    /// How long the last successful reload took, in ms.
    pub last_reload_ms: Option<u64>,
    /// The diagnostic of the last failed reload, cleared by the next success.
    pub error: Option<String>,
    /// The first pending timers, by id.
    pub timers: Vec<TimerStatus>,
    /// How many timers are pending.
    pub timers_pending: usize,
    /// How many handler calls failed since the host started.
    pub handler_errors: u64,
    /// `handler_errors` when the running version was loaded: the failures
    /// after it are the running version's (the dev page shows those).
    pub errors_at_load: u64,
    /// The last [`RECENT_ERRORS`] of those failures, oldest first, as
    /// `path:line:col: message (in handler)`.
    pub recent_errors: Vec<String>,
    /// In a cluster: this node's part in it.
    pub cluster: Option<ClusterStatus>,
    /// The version each script thread runs, by thread index (they differ
    /// only during a deploy's canary); empty until a deploy moved one.
    pub thread_versions: Vec<crate::deploy::VersionTag>,
    /// The last deploy of this host, while and after it runs.
    pub deploy: Option<DeployStatus>,
}

/// A deploy as `/status` and the dev page show it.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct DeployStatus {
    pub id: String,
    pub version: String,
    pub sha256: String,
    /// `preparing`, `canary`, `promoting`, `rolling_back`, or how it ended
    /// (`promoted`, `rolled_back`, `vetoed`, `refused`, `failed`).
    pub state: String,
}

/// A cluster node's view of its cluster (the admin endpoint's `/status`).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ClusterStatus {
    /// This node's name.
    pub node: String,
    /// This node holds the platform connection.
    pub gateway: bool,
    /// Who does, as of the last tick (`NODE TOKEN`).
    pub gateway_holder: Option<String>,
    /// The partitions this node owns.
    pub partitions: Vec<usize>,
    /// The live nodes.
    pub nodes: Vec<String>,
    /// The last tick failed: why (Redis unreachable).
    pub error: Option<String>,
}

/// How many handler errors the status keeps.
pub const RECENT_ERRORS: usize = 20;

impl ScriptStatus {
    /// Counts `errors` and keeps the most recent ones.
    pub fn note_errors(&mut self, errors: Vec<String>) {
        self.handler_errors += errors.len() as u64;
        self.recent_errors.extend(errors);
        let extra = self.recent_errors.len().saturating_sub(RECENT_ERRORS);
        self.recent_errors.drain(..extra);
    }
}

/// A pending timer, as the dev page shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TimerStatus {
    pub id: u64,
    pub function: String,
    /// When it is due (ms since the Unix epoch; virtual in scenario tests).
    pub due_at_ms: u64,
    pub every_ms: Option<u64>,
}

/// Milliseconds since the Unix epoch, as status pages show them.
pub fn now_ms() -> u64 {
    u64::try_from(crate::clock::now_ms()).unwrap_or(0)
}
