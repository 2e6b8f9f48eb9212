//! What scripts asked to be called back for later: timers and requests.
//!
//! Both end the same way: an event reaches the script thread (a due timer,
//! a finished request), and the host calls a script function by name with
//! the values kept here. Those values are Rhai values, so this lives on the
//! script thread, inside the bridge; the shared halves (the timer queue, the
//! request tasks) hold only ids.

pub(super) mod requests;
pub(super) mod resolver;
pub(super) mod response_body;
pub(super) mod timers;

use crate::host::callbacks::requests::RequestRunner;
use crate::host::callbacks::timers::{HostClock, TimerEntry, TimerQueue, TimerTable};
use crate::host::progress::HostProgress;
use crate::host::threads::intake::TimerLane;
use crate::script::{
    HostCallError, HostResult, HttpResponse, NewRequest, NewTimer, PendingTimer, MAX_PENDING_TIMERS,
};
use rhai::Dynamic;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// A function to call now, with its arguments.
#[derive(Debug)]
pub struct Callback {
    pub function: String,
    pub args: Vec<Dynamic>,
    /// For the log when the function is missing.
    pub what: String,
    /// A periodic timer's call.
    pub periodic: bool,
}

struct PendingRequest {
    callback: String,
    context: Dynamic,
}

pub struct Callbacks {
    clock: HostClock,
    queue: Arc<TimerQueue>,
    /// Where the firings of due timers wait, to withdraw a cancelled one's.
    lane: TimerLane,
    timers: RefCell<TimerTable>,
    runner: RequestRunner,
    requests: RefCell<HashMap<u64, PendingRequest>>,
    next_request: RefCell<u64>,
    progress: Option<HostProgress>,
    /// Missing callback functions already reported (once each).
    reported: RefCell<HashSet<String>>,
    /// Ticks the periodic timer being called missed (`timer_missed()`).
    missed: Cell<u64>,
    /// Periodic timers' failing callbacks, logged once a minute each.
    failures: RefCell<TimerFailures>,
}

impl Callbacks {
    pub fn new(
        (clock, queue, lane): (HostClock, Arc<TimerQueue>, TimerLane),
        runner: RequestRunner,
        progress: Option<HostProgress>,
        place: crate::host::threads::shared::Place,
    ) -> Self {
        Callbacks {
            clock,
            queue,
            lane,
            timers: RefCell::new(TimerTable::with_ids(
                place.index as u64 + 1,
                place.threads as u64,
            )),
            runner,
            requests: RefCell::new(HashMap::new()),
            next_request: RefCell::new(0),
            progress,
            reported: RefCell::new(HashSet::new()),
            missed: Cell::new(0),
            failures: RefCell::default(),
        }
    }

    pub fn start_timer(&self, timer: NewTimer) -> HostResult<u64> {
        let mut table = self.timers.borrow_mut();
        if table.len() >= MAX_PENDING_TIMERS {
            return Err(HostCallError::Refused(format!(
                "{}: {MAX_PENDING_TIMERS} timers are already pending (the limit); cancel some first",
                if timer.period_ms.is_some() { "every" } else { "after" }
            )));
        }
        let due = self.clock.now_ms().saturating_add(timer.delay_ms);
        let period = timer.period_ms;
        let id = table.insert(TimerEntry {
            callback: timer.callback,
            arg: timer.arg,
            period_ms: period,
        });
        self.queue.arm(id, due, period);
        Ok(id)
    }

    pub fn cancel_timer(&self, id: u64) -> bool {
        self.queue.cancel(id);
        self.lane.withdraw(id);
        self.failures.borrow_mut().forget(id);
        self.timers.borrow_mut().remove(id).is_some()
    }

    pub fn pending_timers(&self) -> Vec<PendingTimer> {
        self.first_timers(usize::MAX)
    }

    /// The first `n` pending timers (by arming order), and how many there are.
    pub fn first_timers(&self, n: usize) -> Vec<PendingTimer> {
        let now = self.clock.now_ms();
        self.timers
            .borrow()
            .iter()
            .take(n)
            .map(|(id, e)| PendingTimer {
                id,
                callback: e.callback.clone(),
                due_in_ms: self.queue.due(id).map_or(0, |d| d.saturating_sub(now)),
                period_ms: e.period_ms,
                arg: e.arg.clone(),
            })
            .collect()
    }

    /// Changes whenever the set of pending timers does.
    pub fn timers_generation(&self) -> u64 {
        self.timers.borrow().generation
    }

    pub fn timers_pending(&self) -> usize {
        self.timers.borrow().len()
    }

    /// The call a due timer makes; `None` when it was cancelled meanwhile.
    /// A periodic timer's next tick is armed now (see `TimerQueue::rearm`),
    /// and the ticks it missed are what `timer_missed()` answers during the
    /// call.
    pub fn timer_fired(&self, id: u64) -> Option<Callback> {
        let entry = self.timers.borrow_mut().fired(id)?;
        let missed = self.queue.rearm(id, self.clock.now_ms()).unwrap_or(0);
        self.missed.set(missed);
        let args = entry.arg.into_iter().collect();
        Some(Callback {
            function: entry.callback,
            args,
            what: format!("timer {id}"),
            periodic: entry.period_ms.is_some(),
        })
    }

    /// Ticks missed by the periodic timer whose callback is running (0 in
    /// any other handler).
    pub fn timer_missed(&self) -> u64 {
        self.missed.get()
    }

    /// Timer `id`'s callback returned (or failed with `error`).
    pub fn timer_done(&self, id: u64, callback: &Callback, error: Option<&dyn std::fmt::Display>) {
        self.missed.set(0);
        let Some(error) = error else {
            return;
        };
        let handler = callback.function.as_str();
        if !callback.periodic {
            // A one-shot timer fails once at most.
            tracing::error!(handler, timer = id, "{error}");
            return;
        }
        if let Some(suppressed) = self.failures.borrow_mut().due(id) {
            tracing::error!(
                handler,
                timer = id,
                suppressed,
                "{error} (this timer's errors are logged once a minute; {suppressed} more since the last)"
            );
        }
    }

    /// A callback whose function the script does not define: logged once
    /// per function; a timer is dropped (an `every` would fail forever).
    pub fn missing(&self, callback: &Callback, timer: Option<u64>) {
        if let Some(id) = timer {
            self.cancel_timer(id);
            self.missed.set(0);
        }
        let key = format!("{}/{}", callback.function, callback.args.len());
        if self.reported.borrow_mut().insert(key) {
            tracing::warn!(
                function = %callback.function,
                arity = callback.args.len(),
                "{}: the script defines no function {}({} argument(s)); dropped",
                callback.what,
                callback.function,
                callback.args.len()
            );
        }
    }

    pub fn start_request(&self, new: NewRequest) -> HostResult<u64> {
        let NewRequest {
            request,
            callback,
            context,
        } = new;
        let id = {
            let mut next = self.next_request.borrow_mut();
            *next += 1;
            *next
        };
        self.runner.start(id, request)?;
        self.requests
            .borrow_mut()
            .insert(id, PendingRequest { callback, context });
        if let Some(p) = &self.progress {
            p.request_started();
        }
        Ok(id)
    }

    /// What runs requests (and downloads, which share their checks).
    pub fn runner(&self) -> &RequestRunner {
        &self.runner
    }

    /// The call a finished request makes: `fn(response, context)`.
    pub fn response(&self, id: u64, response: HttpResponse) -> Option<Callback> {
        let pending = self.requests.borrow_mut().remove(&id)?;
        Some(Callback {
            function: pending.callback,
            args: vec![response.to_dynamic(), pending.context],
            what: format!("request {id}"),
            periodic: false,
        })
    }
}

/// How often a periodic timer's failing callback is logged: an `every(10)`
/// that throws would otherwise write a hundred lines a second, each timer.
pub const TIMER_ERROR_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// When each failing periodic timer was last logged, and how many of its
/// errors were not logged since. One entry per pending periodic timer at
/// most (dropped with the timer), so bounded by `MAX_PENDING_TIMERS`.
#[derive(Default)]
struct TimerFailures {
    by_timer: HashMap<u64, (std::time::Instant, u64)>,
}

impl TimerFailures {
    /// Counts a failure of timer `id`: `Some(errors not logged since the
    /// last line)` when this one is to be logged.
    fn due(&mut self, id: u64) -> Option<u64> {
        let now = std::time::Instant::now();
        match self.by_timer.get_mut(&id) {
            Some((last, suppressed)) if now.duration_since(*last) < TIMER_ERROR_EVERY => {
                *suppressed += 1;
                None
            }
            Some((last, suppressed)) => {
                *last = now;
                Some(std::mem::take(suppressed))
            }
            None => {
                self.by_timer.insert(id, (now, 0));
                Some(0)
            }
        }
    }

    fn forget(&mut self, id: u64) {
        self.by_timer.remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_timer_is_logged_once_a_minute_with_a_count() {
        let mut failures = TimerFailures::default();
        assert_eq!(failures.due(1), Some(0));
        assert_eq!(failures.due(1), None);
        assert_eq!(failures.due(1), None);
        assert_eq!(failures.due(2), Some(0));
        if let Some((last, _)) = failures.by_timer.get_mut(&1) {
            *last = last.checked_sub(TIMER_ERROR_EVERY).unwrap_or(*last);
        }
        assert_eq!(failures.due(1), Some(2));
        failures.forget(1);
        assert!(!failures.by_timer.contains_key(&1));
    }
}
