//! Calling one handler: the single place a script function is called for
//! an event, timed into the metrics and its outcome logged (an error at
//! `error`, with the handler's name).

use crate::script::{HandlerError, HandlerFailure, ServiceScript};
use rhai::Dynamic;

pub(in crate::host) fn run(script: &mut ServiceScript, handler: &str, args: Vec<Dynamic>) {
    let outcome = call_measured(script, handler, args);
    log_outcome(handler, &outcome);
}

/// Calls `handler` and counts the call in the metrics; `Ok(false)` when the
/// script does not define it.
pub(in crate::host) fn call_measured(
    script: &mut ServiceScript,
    handler: &str,
    args: Vec<Dynamic>,
) -> Result<bool, HandlerError> {
    let started = std::time::Instant::now();
    let outcome = script.call(handler, args);
    if !matches!(outcome, Ok(false)) {
        let error = outcome.as_ref().err().map(|e| match e.failure {
            HandlerFailure::Limit => "limit",
            HandlerFailure::HostCall => "host_call",
            HandlerFailure::Script => "runtime",
        });
        crate::metrics::handler_ran(handler, started.elapsed(), error);
    }
    outcome
}

pub(in crate::host) fn log_outcome(handler: &str, outcome: &Result<bool, HandlerError>) {
    match outcome {
        Ok(true) => tracing::debug!(handler, "handled"),
        Ok(false) => tracing::trace!(handler, "not defined by the script"),
        Err(d) => tracing::error!(handler, "{d}"),
    }
}
