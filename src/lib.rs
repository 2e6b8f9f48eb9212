//! moobius-host: runs Moobius Custom Channel Services written as Rhai scripts.
//!
//! Data flows one way: platform -> [`protocol`] decode -> [`host`] state ->
//! [`script`] handler -> outbox -> platform. [`protocol`] does no I/O,
//! [`platform`] knows nothing of Rhai, and [`script`] never touches a socket;
//! [`host`] is the only place that joins them. [`sandbox`] is a local
//! platform that speaks the same protocol, for development and tests.

pub mod admin;
pub mod bundle;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod deploy;
pub mod editor;
pub mod fsutil;
pub mod host;
pub mod logging;
pub mod memory;
pub mod metrics;
pub mod platform;
pub mod progress;
pub mod protocol;
pub mod retry;
pub mod sandbox;
pub mod scenario;
pub mod script;
pub mod store;
pub mod suggest;
pub mod timeouts;

/// A line telling a person why something was refused or failed, shown as it
/// is (on a terminal, to a script author, in a test's failure, in an HTTP
/// answer). Where a function's error is a `Reason`, the line is the product:
/// there is no kind or cause for a caller to act on, so no error type.
pub type Reason = String;
