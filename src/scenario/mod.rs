//! Scenario tests: a service's behaviour written as a story of members
//! acting, checked against what each member sees.
//!
//! Testing a group app by hand means several browser windows; a scenario is
//! that session as a Rhai script (`member("alice").join()`,
//! `assert_eq(alice.sees(), ["alice", "Meow"])`) run against the real host
//! and a real in-process sandbox. Every `test_*` function gets a fresh
//! sandbox and a fresh host, so tests are independent, and every step waits
//! for the service to settle (the host's progress counters against the
//! sandbox's, see `host::HostProgress`): no sleeps, no flakiness.
//!
//! `world` owns one sandbox + host, `api` is what scenarios may call, `diff`
//! explains a failed `assert_eq`, `runner` finds and runs the tests and
//! writes the `cargo test`-like report.

mod api;
mod bots;
mod diff;
mod expect;
mod operator;
mod responder;
mod runner;
mod world;

pub use api::{definitions, function_table};
pub use diff::explain_difference;
pub use runner::{run, RunOptions, Summary};
pub use world::World;

use std::path::PathBuf;
use std::time::Duration;

/// Why a scenario step (or setting one up) failed.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot start the sandbox: {0}")]
    Sandbox(#[from] crate::sandbox::SandboxError),
    #[error("{0}")]
    Host(#[from] crate::host::HostError),
    #[error("the host stopped")]
    HostGone,
    #[error("the host did not start within {0:?}")]
    StartTimeout(Duration),
    #[error("the service did not settle within {timeout:?}: handled {handled} of {expected} member actions, the sandbox applied {acked} of {sent} frames, {open_requests} request callback(s) still to run")]
    NotSettled {
        timeout: Duration,
        handled: u64,
        expected: u64,
        acked: u64,
        sent: u64,
        open_requests: u64,
    },
    #[error("{0}")]
    Control(#[from] crate::sandbox::ControlError),
    #[error("{who}: {action} was not delivered (no service is connected to the channel)")]
    NotDelivered { who: String, action: String },
    #[error("reload() failed, the previous version keeps running: {0}")]
    ReloadFailed(String),
    /// A scenario function used wrongly (`respond` with a bad answer...).
    #[error("{0}")]
    Usage(String),
    /// The test ran over `script_limits.test_timeout_ms` while a scenario
    /// function waited for the service.
    #[error("aborted: ran longer than {} ms (script_limits.test_timeout_ms)", .0.as_millis())]
    TestTimeout(Duration),
    #[error("cannot make the test's data directory: {0}")]
    DataDir(std::io::Error),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl ScenarioError {
    /// A host that did not settle within [`crate::timeouts::SCENARIO_SETTLE`]: how far it got.
    pub(crate) fn not_settled(expected: u64, reached: &crate::host::ProgressCounters) -> Self {
        ScenarioError::NotSettled {
            timeout: crate::timeouts::SCENARIO_SETTLE,
            handled: reached.upward_handled,
            expected,
            acked: reached.downward_acked,
            sent: reached.downward_sent,
            open_requests: reached
                .requests_started
                .saturating_sub(reached.requests_finished),
        }
    }
}
