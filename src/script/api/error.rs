//! Why a host function failed. The script sees the message (a Rhai runtime
//! error at the call); the host keeps the kind and the cause, so a budget
//! that ran out, a platform that refused and a store that failed stay
//! distinguishable and their sources are not flattened into text.

use super::super::limits::BudgetExceeded;

pub type HostResult<T> = Result<T, HostCallError>;

#[derive(Debug, thiserror::Error)]
pub enum HostCallError {
    /// Not provided by this host (a test double, or a host without it).
    #[error("{0} is not available here")]
    Unsupported(&'static str),
    /// Only compiling: `check`, `bundle verify` (see `NoHost`).
    #[error("not available while only compiling (no platform)")]
    NoPlatform,
    /// The handler's time or output budget ran out.
    #[error(transparent)]
    Budget(#[from] BudgetExceeded),
    /// The platform refused, or could not be reached, for `call`.
    #[error("{call}: {source}")]
    Platform {
        call: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A store operation (`op`) failed.
    #[error("store {store:?} ({channel}): {op}: {source}")]
    StoreOp {
        store: String,
        channel: String,
        op: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Store writes could not be made durable, so nothing was sent.
    #[error("store writes could not be saved, so nothing was sent: {0}")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The host is stopping.
    #[error("{call}: the host is shutting down")]
    ShuttingDown { call: String },
    /// What the script asked for cannot be done (a bad argument, a refused
    /// binding, a file that is not there...), said for the author.
    #[error("{0}")]
    Refused(String),
    /// A file the call reads or writes could not be (`what` names the call
    /// and the file).
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}
