//! What scripts asked to be called back for later: timers and requests.
//!
//! Both end the same way: an event reaches the script thread (a due timer,
//! a finished request), and the host calls a script function by name with
//! the values kept here. Those values are Rhai values, so this lives on the
//! script thread, inside the bridge; the shared halves (the timer queue, the
//! request tasks) hold only ids.

use super::progress::HostProgress;
use super::requests::RequestRunner;
use super::timers::{HostClock, TimerEntry, TimerQueue, TimerTable};
use crate::script::{
    HostCallError, HostResult, HttpResponse, NewRequest, NewTimer, PendingTimer, MAX_PENDING_TIMERS,
};
use rhai::Dynamic;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// A function to call now, with its arguments.
#[derive(Debug)]
pub struct Callback {
    pub function: String,
    pub args: Vec<Dynamic>,
    /// For the log when the function is missing.
    pub what: String,
}

struct PendingRequest {
    callback: String,
    context: Dynamic,
}

pub struct Callbacks {
    clock: HostClock,
    queue: Arc<TimerQueue>,
    timers: RefCell<TimerTable>,
    runner: RequestRunner,
    requests: RefCell<HashMap<u64, PendingRequest>>,
    next_request: RefCell<u64>,
    progress: Option<HostProgress>,
    /// Missing callback functions already reported (once each).
    reported: RefCell<HashSet<String>>,
}

impl Callbacks {
    pub fn new(
        clock: HostClock,
        queue: Arc<TimerQueue>,
        runner: RequestRunner,
        progress: Option<HostProgress>,
        place: super::script_thread::Place,
    ) -> Self {
        Callbacks {
            clock,
            queue,
            timers: RefCell::new(TimerTable::with_ids(
                place.index as u64 + 1,
                place.threads as u64,
            )),
            runner,
            requests: RefCell::new(HashMap::new()),
            next_request: RefCell::new(0),
            progress,
            reported: RefCell::new(HashSet::new()),
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
    pub fn timer_fired(&self, id: u64) -> Option<Callback> {
        let entry = self.timers.borrow_mut().fired(id)?;
        let args = entry.arg.into_iter().collect();
        Some(Callback {
            function: entry.callback,
            args,
            what: format!("timer {id}"),
        })
    }

    /// A callback whose function the script does not define: logged once
    /// per function; a timer is dropped (an `every` would fail forever).
    pub fn missing(&self, callback: &Callback, timer: Option<u64>) {
        if let Some(id) = timer {
            self.cancel_timer(id);
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
        })
    }
}
