//! Timers: `after`, `every`, `cancel`, `timers`.
//!
//! A timer has two halves, because Rhai values cannot leave the script
//! thread: the [`TimerTable`] (on the script thread, inside the bridge) keeps
//! what to call (function name, argument), and the [`TimerQueue`] (shared,
//! `Send`) keeps only ids and due times. Something outside the script thread
//! pops due ids from the queue and sends them to the script thread as
//! [`HostEvent::Timer`]s, into the intake's timer lane, which takes turns
//! with members' events and spells (`threads/intake.rs`): a timer never interrupts
//! a handler, timers due together fire in due order among themselves, and
//! a due timer may run before members' events already waiting (at most
//! one timer callback runs between two of them).
//!
//! That something is the clock. Under `run` and `dev` it is a task that
//! sleeps until the next due time ([`spawn_real_clock`]); under
//! `moobius-host test` it is the scenario's [`VirtualClock`], which fires
//! timers only when the test calls `advance(ms)`, one at a time, so a test
//! with timers is as deterministic as one without.
//!
//! Timers are not durable: they live as long as the process (they survive
//! reloads and bundle swaps, because the table is the host's, not the
//! script's). docs/AUTHORING.md ("Timers") shows the pattern for durable
//! schedules.

use crate::host::events::HostEvent;
use crate::host::threads::intake::{Intake, Refused};
use rhai::Dynamic;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Milliseconds on the host's timer clock (since start, or virtual).
pub type ClockMs = u64;

/// How much later a timer whose firing the script thread's full timer lane
/// refused is tried again: soon enough that a periodic timer loses only a
/// few ticks, late enough that the clock does not spin while the thread
/// catches up.
const REFUSED_RETRY_MS: ClockMs = 100;

/// Where "now" comes from for timers.
#[derive(Debug, Clone)]
pub enum HostClock {
    /// Wall time since the host started.
    Real(Instant),
    /// A scenario's clock, which moves only when the test says so.
    Virtual(VirtualClock),
}

impl HostClock {
    pub fn now_ms(&self) -> ClockMs {
        match self {
            HostClock::Real(origin) => {
                u64::try_from(origin.elapsed().as_millis()).unwrap_or(u64::MAX)
            }
            HostClock::Virtual(v) => v.inner.now.load(Ordering::SeqCst),
        }
    }
}

/// The shared half: ids by due time. A periodic timer popped by the clock is
/// not re-armed until the script thread takes its firing ([`TimerQueue::rearm`]):
/// a timer has at most one firing waiting however far behind the thread is,
/// and the ticks that came due meanwhile are counted as missed instead of
/// queued (`timer_missed()` in the callback).
#[derive(Debug, Default)]
pub struct TimerQueue {
    inner: Mutex<QueueInner>,
    /// Wakes the real clock when a timer is armed (it may be due sooner).
    armed: Notify,
}

#[derive(Debug, Default)]
struct QueueInner {
    by_due: BTreeSet<(ClockMs, u64)>,
    /// id -> (due, period).
    entries: HashMap<u64, (ClockMs, Option<u64>)>,
}

impl TimerQueue {
    pub fn arm(&self, id: u64, due: ClockMs, period: Option<u64>) {
        if let Ok(mut q) = self.inner.lock() {
            if let Some((old, _)) = q.entries.insert(id, (due, period)) {
                q.by_due.remove(&(old, id));
            }
            q.by_due.insert((due, id));
        }
        self.armed.notify_one();
    }

    /// Removes a timer; true if it was armed (or its firing is waiting).
    pub fn cancel(&self, id: u64) -> bool {
        let Ok(mut q) = self.inner.lock() else {
            return false;
        };
        match q.entries.remove(&id) {
            Some((due, _)) => {
                q.by_due.remove(&(due, id));
                true
            }
            None => false,
        }
    }

    /// The script thread took periodic timer `id`'s firing at `now`: arms
    /// its next tick after `now` and returns how many ticks came due while
    /// the firing waited (missed, not fired). `None` for a timer that is
    /// not periodic or no longer pending.
    pub fn rearm(&self, id: u64, now: ClockMs) -> Option<u64> {
        let mut q = self.inner.lock().ok()?;
        let (due, period) = q.entries.get(&id).copied()?;
        let period = period?.max(1);
        if q.by_due.contains(&(due, id)) {
            return Some(0);
        }
        let missed = now.saturating_sub(due) / period;
        let next = due.saturating_add(missed.saturating_add(1).saturating_mul(period));
        q.entries.insert(id, (next, Some(period)));
        q.by_due.insert((next, id));
        drop(q);
        self.armed.notify_one();
        Some(missed)
    }

    /// Timer `id`, popped at `now`, could not be queued (the script
    /// thread's timer lane was full): it is armed again
    /// [`REFUSED_RETRY_MS`] later, a periodic timer with its period, so it
    /// fires once the thread has caught up. A timer cancelled meanwhile may
    /// come back as a one-shot: its firing is then a no-op.
    pub fn put_back(&self, id: u64, now: ClockMs) {
        if let Ok(mut q) = self.inner.lock() {
            let period = q.entries.get(&id).and_then(|(_, p)| *p);
            let due = now.saturating_add(REFUSED_RETRY_MS);
            if let Some((old, _)) = q.entries.insert(id, (due, period)) {
                q.by_due.remove(&(old, id));
            }
            q.by_due.insert((due, id));
        }
    }

    /// When the timer is next due.
    pub fn due(&self, id: u64) -> Option<ClockMs> {
        self.inner.lock().ok()?.entries.get(&id).map(|(d, _)| *d)
    }

    fn next_due(&self) -> Option<ClockMs> {
        self.inner.lock().ok()?.by_due.first().map(|(d, _)| *d)
    }

    /// The earliest timer due at or before `now`. A one-shot timer leaves
    /// the queue; a periodic one waits, out of the due order, for
    /// [`TimerQueue::rearm`]. Returns its id and the time it was due.
    pub fn pop_due(&self, now: ClockMs) -> Option<(u64, ClockMs)> {
        let mut q = self.inner.lock().ok()?;
        let (due, id) = *q.by_due.first()?;
        if due > now {
            return None;
        }
        q.by_due.remove(&(due, id));
        if q.entries.get(&id).and_then(|(_, p)| *p).is_none() {
            q.entries.remove(&id);
        }
        Some((id, due))
    }
}

/// The task that fires timers on wall time (`run`, `dev`).
pub fn spawn_real_clock(
    queue: Arc<TimerQueue>,
    origin: Instant,
    events: Intake,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let now = u64::try_from(origin.elapsed().as_millis()).unwrap_or(u64::MAX);
            while let Some((id, _)) = queue.pop_due(now) {
                match events.send(HostEvent::Timer(id)) {
                    Ok(()) => {}
                    Err(Refused::TimersFull) => queue.put_back(id, now),
                    Err(_) => return,
                }
            }
            let armed = queue.armed.notified();
            match queue.next_due() {
                Some(due) => {
                    let at = origin + Duration::from_millis(due);
                    tokio::select! {
                        _ = tokio::time::sleep_until(at.into()) => {}
                        _ = armed => {}
                    }
                }
                None => armed.await,
            }
        }
    })
}

/// A clock for tests: starts at 0 and moves only through [`advance`]
/// (the scenario's `advance(ms)`).
///
/// [`advance`]: VirtualClock::fire_next
#[derive(Debug, Clone, Default)]
pub struct VirtualClock {
    inner: Arc<VirtualInner>,
}

#[derive(Debug, Default)]
struct VirtualInner {
    now: AtomicU64,
    /// Each script thread's timers and queue, attached as the threads start.
    threads: Mutex<Vec<(Arc<TimerQueue>, Intake)>>,
}

impl VirtualClock {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn now_ms(&self) -> ClockMs {
        self.inner.now.load(Ordering::SeqCst)
    }

    pub(in crate::host) fn attach(&self, queue: Arc<TimerQueue>, events: Intake) {
        self.inner
            .threads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((queue, events));
    }

    /// Moves the clock to the next timer due at or before `until` and fires
    /// it (queues it for the script thread). False when none was queued:
    /// none is due by then, the thread is gone, or its timer lane refused
    /// the firing (the timer is then put back, see [`TimerQueue::put_back`],
    /// and fires at a later `advance`); the clock is then moved to `until`.
    /// The caller waits for the service to settle between two calls, so a
    /// handler's new timers take part (and the lane is empty).
    pub fn fire_next(&self, until: ClockMs) -> bool {
        let until = until.max(self.now_ms());
        let threads = self
            .inner
            .threads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        // The earliest due timer of any thread.
        let next = threads
            .iter()
            .filter_map(|(q, tx)| q.next_due().map(|d| (d, q, tx)))
            .min_by_key(|(d, _, _)| *d);
        if let Some((due, queue, events)) = next.filter(|(d, _, _)| *d <= until) {
            self.inner
                .now
                .store(due.max(self.now_ms()), Ordering::SeqCst);
            if let Some((id, _)) = queue.pop_due(self.now_ms()) {
                match events.send(HostEvent::Timer(id)) {
                    Ok(()) => return true,
                    Err(Refused::TimersFull) => queue.put_back(id, self.now_ms()),
                    Err(_) => {}
                }
            }
        }
        self.inner.now.store(until, Ordering::SeqCst);
        false
    }
}

/// What one pending timer calls (script-thread half).
#[derive(Debug, Clone)]
pub struct TimerEntry {
    pub callback: String,
    pub arg: Option<Dynamic>,
    pub period_ms: Option<u64>,
}

/// The script thread's half: what each armed timer calls.
#[derive(Debug)]
pub struct TimerTable {
    /// The next id to give; ids step by the number of script threads so
    /// that they are unique across threads (thread `i` of `n` gives
    /// `i + 1`, `i + 1 + n`, ...).
    next_id: u64,
    step: u64,
    /// By id, which is arming order.
    entries: BTreeMap<u64, TimerEntry>,
    /// Bumped on every change, so the status is republished only then.
    pub generation: u64,
}

impl Default for TimerTable {
    fn default() -> Self {
        TimerTable::with_ids(1, 1)
    }
}

impl TimerTable {
    /// Ids `first`, `first + step`, ...
    pub fn with_ids(first: u64, step: u64) -> Self {
        TimerTable {
            next_id: first.max(1),
            step: step.max(1),
            entries: BTreeMap::new(),
            generation: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn insert(&mut self, entry: TimerEntry) -> u64 {
        let id = self.next_id;
        self.next_id += self.step;
        self.generation += 1;
        self.entries.insert(id, entry);
        id
    }

    pub fn remove(&mut self, id: u64) -> Option<TimerEntry> {
        let removed = self.entries.remove(&id);
        if removed.is_some() {
            self.generation += 1;
        }
        removed
    }

    /// A fired timer: what to call. One-shot timers leave the table.
    pub fn fired(&mut self, id: u64) -> Option<TimerEntry> {
        let entry = self.entries.get(&id)?;
        if entry.period_ms.is_some() {
            return Some(entry.clone());
        }
        self.remove(id)
    }

    /// Every pending timer, by id.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &TimerEntry)> {
        self.entries.iter().map(|(id, e)| (*id, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_timers_pop_in_due_order_and_periodic_ones_rearm() {
        let q = TimerQueue::default();
        q.arm(1, 300, None);
        q.arm(2, 100, Some(100));
        q.arm(3, 200, None);
        assert_eq!(q.pop_due(50), None);
        assert_eq!(q.pop_due(100), Some((2, 100)));
        // Not again until the script thread took the firing.
        assert_eq!(q.pop_due(200), Some((3, 200)));
        assert_eq!(q.rearm(2, 200), Some(1));
        assert_eq!(q.pop_due(250), None);
        assert_eq!(q.due(2), Some(300));
        assert!(q.cancel(2));
        assert!(!q.cancel(2));
        assert_eq!(q.pop_due(1_000), Some((1, 300)));
        assert_eq!(q.pop_due(1_000), None);
    }

    #[test]
    fn a_stalled_periodic_timer_skips_missed_ticks() {
        let q = TimerQueue::default();
        q.arm(7, 100, Some(100));
        assert_eq!(q.pop_due(1_050), Some((7, 100)));
        assert_eq!(q.pop_due(1_050), None);
        assert_eq!(q.rearm(7, 1_050), Some(9));
        assert_eq!(q.due(7), Some(1_100));
    }

    #[test]
    fn the_virtual_clock_fires_one_timer_at_a_time_up_to_the_target() {
        let clock = VirtualClock::new();
        let queue = Arc::new(TimerQueue::default());
        let (tx, mut rx) = crate::host::threads::intake::channel();
        clock.attach(queue.clone(), tx);
        queue.arm(1, 100, Some(100));
        assert!(clock.fire_next(250));
        assert_eq!(clock.now_ms(), 100);
        assert!(matches!(rx.try_recv(), Some(HostEvent::Timer(1))));
        assert!(!clock.fire_next(150), "waits for the script thread");
        assert_eq!(queue.rearm(1, clock.now_ms()), Some(0));
        assert!(clock.fire_next(250));
        assert_eq!(clock.now_ms(), 200);
        assert!(!clock.fire_next(250));
        assert_eq!(clock.now_ms(), 250);
    }

    /// Fills `tx`'s timer lane with firings of timers other than 1.
    fn fill_the_lane(tx: &Intake) {
        for other in 0..crate::host::threads::intake::TIMER_LANE as u64 {
            let _ = tx.send(HostEvent::Timer(1_000_000 + other));
        }
    }

    #[test]
    fn the_virtual_clock_does_not_count_a_firing_the_lane_refused() {
        let clock = VirtualClock::new();
        let queue = Arc::new(TimerQueue::default());
        let (tx, mut rx) = crate::host::threads::intake::channel();
        clock.attach(queue.clone(), tx.clone());
        fill_the_lane(&tx);
        queue.arm(1, 100, Some(100));
        assert!(!clock.fire_next(100), "the lane refused the firing");
        while rx.try_recv().is_some() {}
        assert!(clock.fire_next(1_000), "fires once the lane has room");
        assert!(matches!(rx.try_recv(), Some(HostEvent::Timer(1))));
    }

    #[tokio::test]
    async fn a_periodic_timer_the_full_lane_refused_fires_later() {
        let queue = Arc::new(TimerQueue::default());
        let (tx, mut rx) = crate::host::threads::intake::channel();
        fill_the_lane(&tx);
        queue.arm(1, 0, Some(10));
        let clock = spawn_real_clock(queue.clone(), Instant::now(), tx);
        let deadline = Instant::now() + Duration::from_secs(5);
        // The clock tried, was refused, and put the timer back for later.
        while queue.due(1) == Some(0) {
            assert!(Instant::now() < deadline, "the clock never retried");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        while rx.try_recv().is_some() {}
        loop {
            if let Some(HostEvent::Timer(1)) = rx.try_recv() {
                break;
            }
            assert!(Instant::now() < deadline, "the timer never fired again");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        clock.abort();
    }
}
