//! `config/config.json` in the Python SDK's shape, validated up front.
//!
//! The whole config is read and checked before any network activity, so a
//! typo costs the author one clear line (`file: key: problem`) and exit code 2
//! instead of a half-started service. Sections may be inline objects or paths
//! to other JSON files, as with the SDK; paths resolve against the service
//! directory (the SDK uses the process's working directory, which is the same
//! thing when the service is started from its own directory).

pub mod cluster;
pub mod deploy;
mod http_allow;
mod keys;
pub mod load;
mod local;
pub mod ranges;
pub mod redact;
mod secret;
pub mod seed;
mod writeback;

pub use cluster::ClusterConfig;
pub use http_allow::{reaches_this_machine, NotAllowed, RedirectRefused, MAX_REDIRECTS};
pub use load::load;
pub use local::ServiceSettings;
pub use redact::shown_url;
pub use secret::Secret;
pub use writeback::write_service_id;

use std::path::PathBuf;
use std::time::Duration;

/// Whom the host signs in as, decided once from `service_mode` (which stays
/// the config file's key, as in the SDK): the session's sign-in, login,
/// channel binding and check-ins, and which script functions may be
/// called, all follow from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `service_mode: true` (the default): a service serving its channels.
    Service,
    /// `service_mode: false`: a user (a bot) that is a member of them.
    User,
}

/// What to do with a configured channel that another service of this account holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OthersPolicy {
    /// Take the channel over (unbind the other service, bind this one).
    Include,
    /// Leave it alone and do not serve it.
    Ignore,
    /// Unbind the other service and do not serve it either.
    Unbind,
}

#[derive(Debug, Clone)]
pub struct AccountConfig {
    pub email: String,
    pub password: Secret,
}

#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub http_server_uri: String,
    pub ws_server_uri: String,
    /// `None` means: create a service at start-up and write its id back.
    pub service_id: Option<String>,
    pub channels: Vec<String>,
    pub others: OthersPolicy,
    /// `None` disables the periodic checkin (a configured 0).
    pub checkin_interval: Option<Duration>,
    /// `service_mode`.
    pub mode: Mode,
    /// Heartbeat period (`heartbeat_interval`, seconds, default 30); two
    /// silent periods mean a dead connection.
    pub heartbeat_interval: Duration,
    /// Reconnect back-off bounds (`reconnect_min_ms`, `reconnect_max_ms`).
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    /// Frames kept while disconnected (`outgoing_queue_limit`).
    pub outgoing_queue_limit: usize,
    /// `script_threads`: how many script threads share the channels (a
    /// number, or `"auto"` for the machine's cores, resolved at load).
    pub script_threads: usize,
    /// `runtime_threads`: worker threads of `run`'s async runtime (resolved
    /// at load: a number, `"auto"` or the default of the script threads).
    pub runtime_threads: usize,
    /// What scripts' `request(...)` may do.
    pub requests: RequestPolicy,
    /// `admin`: where the admin endpoint listens (`run --admin` overrides);
    /// `None`: no endpoint.
    pub admin: Option<std::net::SocketAddr>,
    /// `admin_public`: the endpoint may listen on an address that is not loopback.
    pub admin_public: bool,
    /// `trusted_keys`: `run --bundle` accepts only bundles signed by one of
    /// these (empty: any bundle).
    pub trusted_keys: crate::bundle::TrustedKeys,
}

/// Limits of scripts' outgoing HTTP requests (`request`, `download`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestPolicy {
    /// `http_allow`: the hosts scripts may reach (`api.example.com`,
    /// `127.0.0.1:8080`, `*.example.com`); `None` means any.
    pub allow: Option<Vec<String>>,
    /// `request_timeout_ms`: when the script gives none.
    pub default_timeout: Duration,
    /// `request_timeout_max_ms`: the most a script may ask for.
    pub max_timeout: Duration,
    /// `request_max_bytes`: a longer response body is cut off with an error
    /// (never above `script_limits.max_string_size`: the loader lowers it).
    pub max_body_bytes: u64,
    /// `request_budget_bytes`: the bytes all response bodies being read or
    /// waiting for their callback may hold at once.
    pub budget_bytes: u64,
    /// `requests_in_flight`: more at once is a script error.
    pub max_in_flight: usize,
    /// Where the admin endpoint listens (set by `run`): reached only when
    /// `http_allow` names this `host:port` exactly.
    pub admin: Option<std::net::SocketAddr>,
}

impl Default for RequestPolicy {
    fn default() -> Self {
        RequestPolicy {
            allow: None,
            default_timeout: Duration::from_millis(ranges::DEFAULT_REQUEST_TIMEOUT_MS),
            max_timeout: Duration::from_millis(ranges::DEFAULT_REQUEST_TIMEOUT_MAX_MS),
            max_body_bytes: ranges::DEFAULT_REQUEST_MAX_BYTES,
            budget_bytes: ranges::DEFAULT_REQUEST_BUDGET_BYTES,
            max_in_flight: ranges::DEFAULT_REQUESTS_IN_FLIGHT,
            admin: None,
        }
    }
}

impl RequestPolicy {
    /// Whether `host` (with `port`) may be reached by the list alone; see
    /// [`RequestPolicy::check`] for the whole rule.
    pub fn allows(&self, host: &str, port: Option<u16>) -> bool {
        let Some(allow) = &self.allow else {
            return true;
        };
        let host = host.to_ascii_lowercase();
        let with_port = port.map(|p| format!("{host}:{p}"));
        allow.iter().any(|pattern| {
            let pattern = pattern.to_ascii_lowercase();
            if let Some(suffix) = pattern.strip_prefix("*.") {
                host.ends_with(&format!(".{suffix}"))
            } else {
                pattern == host || Some(&pattern) == with_port.as_ref()
            }
        })
    }
}

#[derive(Debug, Clone)]
pub struct LogConfig {
    pub log_level: String,
    pub terminal_log_level: String,
    pub error_log_level: String,
    pub log_file: Option<PathBuf>,
    pub error_log_file: Option<PathBuf>,
    /// `log_format`: `human` (default) or `json` (`run --log-format` overrides).
    pub format: LogFormat,
    /// `log_retention`: how log files are rotated and how many are kept.
    pub rotation: LogRotation,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// `2026-11-28T05:00:00Z  INFO message key=value`.
    #[default]
    Human,
    /// One JSON object per line, with the span fields.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = crate::Reason;
    fn from_str(s: &str) -> Result<Self, crate::Reason> {
        match s.trim().to_ascii_lowercase().as_str() {
            "human" | "text" => Ok(LogFormat::Human),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("{other:?} is not a log format (human, json)")),
        }
    }
}

/// Log file rotation, from the SDK's `log_retention`
/// (`{"rotation": "1 day", "retention": "7 days"}` by default, as in the SDK;
/// a plain string sets the retention only, and then, as in the SDK, files
/// are not rotated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogRotation {
    /// Seconds per file (86400, 3600 or 604800); `None`: one file, never rotated.
    pub every_secs: Option<u64>,
    /// Rotated files kept, at most.
    pub keep: usize,
}

impl Default for LogRotation {
    fn default() -> Self {
        LogRotation {
            every_secs: Some(86_400),
            keep: 7,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            log_level: "INFO".into(),
            terminal_log_level: "INFO".into(),
            error_log_level: "WARNING".into(),
            log_file: None,
            error_log_file: None,
            format: LogFormat::Human,
            rotation: LogRotation::default(),
        }
    }
}

/// Where a service id created at start-up is persisted (docs/PROTOCOL.md 7.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceIdTarget {
    /// A file whose top-level `service_id` key receives the id.
    TopLevel(PathBuf),
    /// The main config file, at `service_config.service_id`.
    Nested(PathBuf),
    /// Nowhere (a config built in memory, as `dev` does).
    Nowhere,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub account: AccountConfig,
    pub service: ServiceConfig,
    pub log: LogConfig,
    /// Per-handler limits (`script_limits`).
    pub script_limits: crate::script::ScriptLimits,
    /// Named stores (`db_config`), none by default.
    pub db_config: crate::store::StoreConfig,
    /// `cluster`: serve with other processes through Redis (`None`: alone).
    pub cluster: Option<ClusterConfig>,
    /// `deploy`: how a deploy's canary is judged.
    pub deploy: crate::deploy::DeployConfig,
    pub service_id_target: ServiceIdTarget,
    /// The file the config was read from, for messages.
    pub source: PathBuf,
    /// Problems worth a warning that do not stop the service.
    pub warnings: Vec<String>,
}

impl Config {
    /// A config built in memory for a local platform (`dev`, tests,
    /// benchmarks): defaults everywhere, a fresh service, nothing written back.
    pub fn local(
        http_server_uri: &str,
        ws_server_uri: &str,
        channels: Vec<String>,
        email: &str,
    ) -> Config {
        Config {
            account: AccountConfig {
                email: email.to_string(),
                password: Secret::new(uuid::Uuid::new_v4().to_string()),
            },
            service: ServiceConfig {
                http_server_uri: http_server_uri.to_string(),
                ws_server_uri: ws_server_uri.to_string(),
                service_id: None,
                channels,
                others: OthersPolicy::Include,
                checkin_interval: Some(Duration::from_secs_f64(
                    ranges::DEFAULT_CHECKIN_INTERVAL_SECS,
                )),
                mode: Mode::Service,
                heartbeat_interval: Duration::from_secs_f64(
                    ranges::DEFAULT_HEARTBEAT_INTERVAL_SECS,
                ),
                reconnect_min: Duration::from_millis(ranges::DEFAULT_RECONNECT_MIN_MS),
                reconnect_max: Duration::from_millis(ranges::DEFAULT_RECONNECT_MAX_MS),
                outgoing_queue_limit: ranges::DEFAULT_OUTGOING_QUEUE_LIMIT,
                script_threads: ranges::DEFAULT_SCRIPT_THREADS,
                runtime_threads: ranges::default_runtime_threads(ranges::DEFAULT_SCRIPT_THREADS),
                requests: RequestPolicy::default(),
                admin: None,
                admin_public: false,
                trusted_keys: Default::default(),
            },
            log: LogConfig::default(),
            script_limits: Default::default(),
            db_config: crate::store::StoreConfig::in_memory(),
            cluster: None,
            deploy: Default::default(),
            service_id_target: ServiceIdTarget::Nowhere,
            source: PathBuf::from("(in memory)"),
            warnings: Vec::new(),
        }
    }
}

/// A config problem: names the file and the key, in one line.
#[derive(Debug, thiserror::Error)]
#[error("{}: {key}: {reason}", file.display())]
pub struct ConfigError {
    pub file: PathBuf,
    pub key: String,
    pub reason: String,
}

impl ConfigError {
    pub fn new(
        file: impl Into<PathBuf>,
        key: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        ConfigError {
            file: file.into(),
            key: key.into(),
            reason: reason.into(),
        }
    }
}

pub const DEFAULT_HTTP_SERVER_URI: &str = "https://api.moobius.ai/";
pub const DEFAULT_WS_SERVER_URI: &str = "wss://ws.moobius.ai/";
