//! Per-handler limits, so that no handler can freeze or crash the host.
//!
//! Rhai enforces operations, call depth and value sizes itself; the
//! wall-clock budget is checked from the engine's progress callback. A handler
//! that hits a limit is aborted with an error naming the handler and the
//! limit, `this` stays as the handler left it, and the next event runs
//! normally. Host functions waiting on the network cannot be interrupted by
//! the budget; they have their own timeouts.

use rhai::{Dynamic, Engine, EvalAltResult};
use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq)]
pub struct ScriptLimits {
    /// Rhai operations per handler call (0: unlimited).
    pub max_operations: u64,
    /// Nesting depth of function calls.
    pub max_call_levels: usize,
    /// Bytes in one string (0: unlimited).
    pub max_string_size: usize,
    /// Elements in one array (0: unlimited).
    pub max_array_size: usize,
    /// Entries in one map (0: unlimited).
    pub max_map_size: usize,
    /// Wall-clock time per handler call.
    pub timeout: Duration,
    /// Frames one handler call may send (messages, views, updates).
    pub max_output_frames: u64,
    /// Bytes of frames one handler call may send (their content, as sent).
    pub max_output_bytes: u64,
}

impl Default for ScriptLimits {
    fn default() -> Self {
        ScriptLimits {
            max_operations: 50_000_000,
            max_call_levels: 64,
            max_string_size: 4 << 20,
            max_array_size: 1_000_000,
            max_map_size: 1_000_000,
            timeout: Duration::from_secs(1),
            max_output_frames: 10_000,
            max_output_bytes: 64 << 20,
        }
    }
}

/// When the running handler must stop (none between calls).
#[derive(Clone, Default)]
pub(super) struct Deadline(Rc<Cell<Option<Instant>>>);

impl Deadline {
    pub fn start(&self, budget: Duration) {
        self.0.set(Some(Instant::now() + budget));
    }

    pub fn clear(&self) {
        self.0.set(None);
    }
}

/// The value a terminated script carries, to recognise our own termination.
const TIMEOUT_TOKEN: &str = "moobius-host: wall-clock budget exceeded";

pub(super) fn apply(engine: &mut Engine, limits: &ScriptLimits, deadline: &Deadline) {
    engine.set_max_operations(limits.max_operations);
    engine.set_max_call_levels(limits.max_call_levels);
    engine.set_max_string_size(limits.max_string_size);
    engine.set_max_array_size(limits.max_array_size);
    engine.set_max_map_size(limits.max_map_size);
    let deadline = deadline.0.clone();
    engine.on_progress(move |ops| {
        // Checking the clock every 256 operations keeps the cost negligible.
        if ops % 256 != 0 {
            return None;
        }
        match deadline.get() {
            Some(at) if Instant::now() >= at => Some(Dynamic::from(TIMEOUT_TOKEN)),
            _ => None,
        }
    });
}

/// A message naming the limit, when `err` is a limit being hit.
pub(super) fn describe(err: &EvalAltResult, limits: &ScriptLimits) -> Option<String> {
    Some(match err.unwrap_inner() {
        EvalAltResult::ErrorTooManyOperations(..) => format!(
            "aborted: more than {} operations (script_limits.max_operations)",
            limits.max_operations
        ),
        EvalAltResult::ErrorTerminated(token, ..) if token.to_string() == TIMEOUT_TOKEN => format!(
            "aborted: ran longer than {} ms (script_limits.timeout_ms)",
            limits.timeout.as_millis()
        ),
        EvalAltResult::ErrorStackOverflow(..) => format!(
            "aborted: function calls nested deeper than {} (script_limits.max_call_levels)",
            limits.max_call_levels
        ),
        EvalAltResult::ErrorDataTooLarge(what, ..) => {
            let (limit, key) = if what.contains("tring") {
                (limits.max_string_size, "max_string_size")
            } else if what.contains("rray") {
                (limits.max_array_size, "max_array_size")
            } else {
                (limits.max_map_size, "max_map_size")
            };
            format!("aborted: {what} larger than {limit} (script_limits.{key})")
        }
        _ => return None,
    })
}
