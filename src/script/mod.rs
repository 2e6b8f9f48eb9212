//! The Rhai side: compiling a service, calling its handlers with a persistent
//! `this`, and the functions scripts may call.
//!
//! Nothing here touches a socket. Whatever a script asks of the platform goes
//! through the [`HostApi`] trait, which the host implements; that keeps the
//! script engine testable on its own and the data flow one-way.

mod api;
mod character;
pub mod check;
pub mod compile;
pub mod defs;
mod diagnostic;
mod handlers;
mod id_list;
mod limits;
pub mod lint;
pub mod lint_callbacks;
pub mod lint_calls;
pub mod lint_names;
pub mod names;
mod nohost;
mod not_found;
mod resolver;
mod service;
pub mod size;
pub mod snippet;
pub mod watch;

pub use api::convert::from_json;
pub use api::timers::{MAX_DELAY_MS, MAX_PENDING_TIMERS, MIN_DELAY_MS, MIN_EVERY_MS};
pub use api::{
    is_http_url, Downloaded, HostApi, HostCallError, HostResult, HttpRequest, HttpResponse,
    KeyValue, NewRequest, NewTimer, OutgoingMessage, PendingTimer, UserFrame, ViewUpdate,
};
pub use character::{AgentProfile, Character};
pub use diagnostic::{definition_of, Diagnostic};
pub use handlers::{handler_named, Handler, HANDLERS};
/// Aborts the running handler (see [`limits::abort`]).
pub use limits::abort as abort_handler;
pub use limits::{
    charge_output, remaining as remaining_budget, BudgetExceeded, ScriptLimits, TestBudget,
};
pub use limits::{syntax_engine, MAX_EXPR_DEPTH, MAX_FN_EXPR_DEPTH};
pub use nohost::NoHost;
pub use not_found::explain as explain_not_found;
pub use service::{CompileOptions, HandlerError, HandlerFailure, ServiceScript};

/// Stack size for the thread that runs scripts: deep (but allowed) Rhai call
/// nesting uses a lot of native stack, more so in debug builds.
pub const SCRIPT_THREAD_STACK: usize = 64 << 20;

/// The deepest function call nesting a service may configure
/// (`script_limits.max_call_levels`): what [`SCRIPT_THREAD_STACK`] holds,
/// with a margin. Measured in a debug build (the tests'; release frames are
/// smaller), recursing until the 64 MiB stack overflowed: a simple
/// `fn f(n) { if n == 0 { 0 } else { f(n - 1) + 1 } }` overflows at 1,395
/// levels, `this.f(..)` at 1,141, recursion inside nested loops at 850, and
/// recursion wrapped in 28 nested native calls (the most the expression
/// depth limit compiles) at 157. 100 is 14x below the first and still 1.5x
/// below the last. A larger stack would allow a larger cap.
pub const MAX_CALL_LEVELS_CAP: usize = 100;

#[cfg(test)]
mod tests;
