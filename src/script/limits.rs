//! Per-handler limits, so that no handler can freeze or crash the host.
//!
//! Rhai enforces operations, call depth and value sizes itself; the
//! wall-clock budget is checked from the engine's progress callback. A handler
//! that hits a limit is aborted with an error naming the handler and the
//! limit, `this` stays as the handler left it, and the next event runs
//! normally.
//!
//! Host functions run outside Rhai's reach: a call that waits on the network,
//! or a loop that sends, would never reach the next progress check. So the
//! running handler's budget is also published to its thread ([`remaining`],
//! [`charge_output`]): host functions wait at most the time left and refuse
//! output beyond the budget, and a host function that runs the budget out
//! marks the handler for abort ([`abort`]), so that catching the error in the
//! script does not let it go on.

use rhai::{Dynamic, Engine, EvalAltResult};
use std::cell::{Cell, RefCell};
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
    /// Wall-clock time one compile of the service (entry and imports) may
    /// take, at start-up, in `check` and on reload: Rhai's parser cannot be
    /// interrupted, so a compile past this is refused (`compile.rs`).
    pub compile_timeout: Duration,
    /// Wall-clock time one scenario test (`moobius-host test`) may take,
    /// its handlers and the test function's own code together.
    pub test_timeout: Duration,
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
            compile_timeout: Duration::from_secs(5),
            test_timeout: Duration::from_secs(30),
        }
    }
}

/// How deeply expressions may nest, at the top level and inside functions:
/// the parser recurses per level, and deeper nesting than this overflows
/// the stack before any limit at run time applies.
pub const MAX_EXPR_DEPTH: usize = 128;
pub const MAX_FN_EXPR_DEPTH: usize = 64;

/// A plain engine with the host's parse limits, for checking syntax the way
/// the host will compile it (`check`, `bundle verify`, scenario files).
pub fn syntax_engine() -> Engine {
    let mut engine = Engine::new();
    engine.set_max_expr_depths(MAX_EXPR_DEPTH, MAX_FN_EXPR_DEPTH);
    engine
}

/// When the running handler must stop (none between calls), and why it must
/// stop early when a host function ran its budget out.
#[derive(Clone, Default)]
pub(super) struct Deadline(Rc<DeadlineState>);

#[derive(Default)]
pub(super) struct DeadlineState {
    at: Cell<Option<Instant>>,
    /// Checked at every operation (a host function set it).
    aborted: Cell<bool>,
    abort: RefCell<Option<String>>,
}

impl Deadline {
    pub fn start(&self, budget: Duration) {
        self.0.at.set(Some(Instant::now() + budget));
        self.0.aborted.set(false);
        self.0.abort.replace(None);
    }

    pub fn clear(&self) {
        self.0.at.set(None);
    }

    /// Why a host function aborted the handler, if one did.
    pub fn take_abort(&self) -> Option<String> {
        self.0.abort.take()
    }
}

/// What the handler running on this thread may still spend.
struct Running {
    deadline: Deadline,
    timeout: Duration,
    frames_left: u64,
    bytes_left: u64,
    max_frames: u64,
    max_bytes: u64,
}

thread_local! {
    static RUNNING: RefCell<Option<Running>> = const { RefCell::new(None) };
}

/// Publishes a handler's budget to its thread for as long as it runs.
pub(super) struct HandlerScope(());

impl HandlerScope {
    pub fn enter(deadline: &Deadline, limits: &ScriptLimits) -> Self {
        deadline.start(limits.timeout);
        RUNNING.with(|r| {
            r.replace(Some(Running {
                deadline: deadline.clone(),
                timeout: limits.timeout,
                frames_left: limits.max_output_frames,
                bytes_left: limits.max_output_bytes,
                max_frames: limits.max_output_frames,
                max_bytes: limits.max_output_bytes,
            }))
        });
        HandlerScope(())
    }
}

impl Drop for HandlerScope {
    fn drop(&mut self) {
        RUNNING.with(|r| {
            if let Some(running) = r.take() {
                running.deadline.clear();
            }
        });
    }
}

/// A host function ran into the handler's budget.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct BudgetExceeded(String);

impl BudgetExceeded {
    /// A budget that ran out, said for the author (naming the call and the limit).
    pub fn new(message: impl Into<String>) -> Self {
        BudgetExceeded(message.into())
    }
}

/// The time the running handler has left, and its whole budget (`None`
/// outside a handler: host start-up work has its own timeouts).
/// Nothing is left once a host function aborted the handler.
pub fn remaining() -> Option<(Duration, Duration)> {
    RUNNING.with(|r| {
        let r = r.borrow();
        let running = r.as_ref()?;
        let state = &running.deadline.0;
        let at = state.at.get()?;
        let left = if state.aborted.get() {
            Duration::ZERO
        } else {
            at.saturating_duration_since(Instant::now())
        };
        Some((left, running.timeout))
    })
}

/// Aborts the running handler at its next operation with `why` (the host
/// function returns its error too; this keeps a `catch` from going on).
pub fn abort(why: &str) {
    RUNNING.with(|r| {
        if let Some(running) = r.borrow().as_ref() {
            let state = &running.deadline.0;
            if !state.aborted.replace(true) {
                state.abort.replace(Some(why.to_string()));
            }
        }
    });
}

/// Counts one frame of `bytes` against the running handler's output budget;
/// refuses it (and aborts the handler) when the budget is spent.
pub fn charge_output(what: &str, bytes: usize) -> Result<(), BudgetExceeded> {
    let refusal = RUNNING.with(|r| {
        let mut r = r.borrow_mut();
        let running = r.as_mut()?;
        let bytes = bytes as u64;
        if running.deadline.0.aborted.get() {
            return Some(format!("{what}: the handler was aborted"));
        }
        if running.frames_left == 0 {
            return Some(format!(
                "{what}: the handler already sent {} frames (script_limits.max_output_frames)",
                running.max_frames
            ));
        }
        if bytes > running.bytes_left {
            return Some(format!(
                "{what}: the handler's frames would exceed {} bytes (script_limits.max_output_bytes)",
                running.max_bytes
            ));
        }
        running.frames_left -= 1;
        running.bytes_left -= bytes;
        None
    });
    let Some(refusal) = refusal else {
        return Ok(());
    };
    abort(&refusal);
    Err(BudgetExceeded(refusal))
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
        if deadline.aborted.get() {
            return Some(Dynamic::from(TIMEOUT_TOKEN));
        }
        // Checking the clock every 256 operations keeps the cost negligible.
        if ops % 256 != 0 {
            return None;
        }
        match deadline.at.get() {
            Some(at) if Instant::now() >= at => Some(Dynamic::from(TIMEOUT_TOKEN)),
            _ => None,
        }
    });
}

/// A scenario test's limits (`moobius-host test`): the size limits and
/// call depth of `script_limits`, and `test_timeout_ms` of wall-clock time
/// per test, armed around each test call. A test's own operations are not
/// counted (its time is): it mostly waits for the service.
pub struct TestBudget {
    deadline: Deadline,
    limits: ScriptLimits,
}

impl TestBudget {
    /// Sets the limits on the engine that runs the tests.
    pub fn apply(engine: &mut Engine, limits: &ScriptLimits) -> Self {
        let deadline = Deadline::default();
        let uncounted = ScriptLimits {
            max_operations: 0,
            ..limits.clone()
        };
        apply(engine, &uncounted, &deadline);
        TestBudget {
            deadline,
            limits: limits.clone(),
        }
    }

    /// A test starts: its time runs from now.
    pub fn start(&self) {
        self.deadline.start(self.limits.test_timeout);
    }

    pub fn clear(&self) {
        self.deadline.clear();
    }

    /// The error that ends a test whose time ran out outside the engine
    /// (while a scenario function waited for the service): the one the
    /// engine's own check gives, so [`TestBudget::describe`] names the limit.
    pub fn time_is_up() -> Box<EvalAltResult> {
        Box::new(EvalAltResult::ErrorTerminated(
            Dynamic::from(TIMEOUT_TOKEN),
            rhai::Position::NONE,
        ))
    }

    /// A message naming the limit, when `err` is a limit being hit.
    pub fn describe(&self, err: &EvalAltResult) -> Option<String> {
        match err.unwrap_inner() {
            EvalAltResult::ErrorTerminated(token, ..) if token.to_string() == TIMEOUT_TOKEN => {
                Some(format!(
                    "aborted: ran longer than {} ms (script_limits.test_timeout_ms)",
                    self.limits.test_timeout.as_millis()
                ))
            }
            _ => describe(err, &self.limits),
        }
    }
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
