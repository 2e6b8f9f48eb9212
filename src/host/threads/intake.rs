//! A script thread's intake: the one queue every event reaches it through,
//! in three lanes the thread takes from in turn.
//!
//! One script thread serves members, timers and spells, and before this
//! each of them could bury the others: 10,000 `every(10)` timers queued a
//! million firings a second behind a member's message, and a thousand
//! spells of 100 ms queued 100 s of work that still ran after their callers
//! gave up. So the intake keeps three lanes:
//!
//! - **events**: what the platform and the host send (members' events,
//!   lifecycle steps, reloads, responses, inspections), in arrival order;
//! - **timers**: due timer ids, at most once each (a periodic timer is not
//!   re-armed until its firing was taken, see `callbacks/timers.rs`, an id already
//!   waiting is not queued again, and cancelling a timer withdraws its
//!   firing, [`TimerLane::withdraw`]), so the lane holds at most one entry
//!   per pending timer, bounded by [`TIMER_LANE`]. A firing beyond it is
//!   refused ([`Refused::TimersFull`]) and the clock puts the timer back to
//!   fire later: a firing is never dropped while the timer stays listed;
//! - **spells**: at most [`SPELL_QUEUE`]; one more is refused at once
//!   ([`Refused::SpellsFull`], HTTP 429 at the admin endpoint).
//!
//! The thread takes from the lanes round-robin (one event, one timer, one
//! spell, ...), so a member's event waits behind at most one timer callback
//! and one spell however many are queued. The events lane refuses nothing
//! (dropping a member's event would lose it): what could flood it from
//! inside the host has a lane of its own, and requests' responses are
//! bounded upstream (`max_in_flight` requests at once).

use crate::host::events::HostEvent;
use crate::script::MAX_PENDING_TIMERS;
use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

/// Spells waiting for one script thread. A spell is an operator's command,
/// answered in seconds at most; more than this waiting means the operator
/// (or a script of theirs) sends faster than the service can answer, and
/// waiting longer would only make every caller time out.
pub const SPELL_QUEUE: usize = 16;

/// Timer firings waiting for one script thread: one per pending timer (the
/// service's limit), twice over for the rare firing of a timer cancelled
/// between the clock popping it and queueing it (taken as a no-op). Beyond
/// it a firing is refused and the clock tries it again later.
pub const TIMER_LANE: usize = 2 * MAX_PENDING_TIMERS;

/// Why an event was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the script thread has stopped")]
    Closed,
    #[error("{SPELL_QUEUE} spells are already waiting for the script thread")]
    SpellsFull,
    #[error("{TIMER_LANE} timer firings are already waiting for the script thread")]
    TimersFull,
}

/// The three lanes, in the order the thread takes from them.
const LANES: usize = 3;

#[derive(Default)]
struct Lanes {
    events: VecDeque<HostEvent>,
    timers: VecDeque<u64>,
    /// The ids in `timers`, so that a waiting timer is not queued twice.
    waiting_timers: HashSet<u64>,
    spells: VecDeque<HostEvent>,
    /// The lane to look at first for the next event.
    turn: usize,
    /// The thread is gone: nothing more is queued.
    closed: bool,
}

impl Lanes {
    fn push(&mut self, event: HostEvent) -> Result<(), Refused> {
        if self.closed {
            return Err(Refused::Closed);
        }
        match event {
            HostEvent::Timer(id) => {
                // Already waiting: that one firing stands for this one too.
                if self.waiting_timers.contains(&id) {
                    return Ok(());
                }
                if self.timers.len() >= TIMER_LANE {
                    return Err(Refused::TimersFull);
                }
                self.waiting_timers.insert(id);
                self.timers.push_back(id);
            }
            spell if spell.is_spell() => {
                if self.spells.len() >= SPELL_QUEUE {
                    return Err(Refused::SpellsFull);
                }
                self.spells.push_back(spell);
            }
            other => self.events.push_back(other),
        }
        Ok(())
    }

    /// The next event, from the first non-empty lane at or after `turn`;
    /// the turn then passes to the lane after it.
    fn take(&mut self) -> Option<HostEvent> {
        for k in 0..LANES {
            let lane = (self.turn + k) % LANES;
            let taken = match lane {
                0 => self.events.pop_front(),
                1 => self.timers.pop_front().map(|id| {
                    self.waiting_timers.remove(&id);
                    HostEvent::Timer(id)
                }),
                _ => self.spells.pop_front(),
            };
            if taken.is_some() {
                self.turn = (lane + 1) % LANES;
                return taken;
            }
        }
        None
    }

    fn is_empty(&self) -> bool {
        self.events.is_empty() && self.timers.is_empty() && self.spells.is_empty()
    }

    /// Removes timer `id`'s waiting firing; true if there was one.
    fn withdraw_timer(&mut self, id: u64) -> bool {
        let waiting = self.waiting_timers.remove(&id);
        if waiting {
            self.timers.retain(|t| *t != id);
        }
        waiting
    }
}

struct Shared {
    lanes: Mutex<Lanes>,
    /// Signalled when something was queued or the last sender left.
    queued: Condvar,
    senders: AtomicUsize,
}

impl Shared {
    fn lanes(&self) -> MutexGuard<'_, Lanes> {
        self.lanes.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The sending side (cloneable, usable from async code: it never waits).
pub struct Intake(Arc<Shared>);

/// The script thread's side.
pub struct IntakeRx(Arc<Shared>);

/// A new, empty intake.
pub fn channel() -> (Intake, IntakeRx) {
    let shared = Arc::new(Shared {
        lanes: Mutex::new(Lanes::default()),
        queued: Condvar::new(),
        senders: AtomicUsize::new(1),
    });
    (Intake(shared.clone()), IntakeRx(shared))
}

impl Intake {
    /// Queues `event` in its lane (see the module comment). A timer firing
    /// whose id is already waiting is queued as that one; one the full lane
    /// cannot take is refused with [`Refused::TimersFull`].
    pub fn send(&self, event: HostEvent) -> Result<(), Refused> {
        self.0.lanes().push(event)?;
        self.0.queued.notify_one();
        Ok(())
    }
}

impl Clone for Intake {
    fn clone(&self) -> Self {
        self.0.senders.fetch_add(1, Ordering::SeqCst);
        Intake(self.0.clone())
    }
}

impl Drop for Intake {
    fn drop(&mut self) {
        if self.0.senders.fetch_sub(1, Ordering::SeqCst) == 1 {
            // Taken under the lock, so the thread cannot miss it.
            let _lanes = self.0.lanes();
            self.0.queued.notify_all();
        }
    }
}

impl std::fmt::Debug for Intake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Intake")
    }
}

/// The script thread's hold on its timer lane, to withdraw the firing of a
/// timer it cancels (so that the lane never fills with no-ops). Not a
/// sender: it does not keep the intake open.
pub struct TimerLane(Arc<Shared>);

impl TimerLane {
    /// Removes timer `id`'s waiting firing; true if there was one.
    pub fn withdraw(&self, id: u64) -> bool {
        self.0.lanes().withdraw_timer(id)
    }
}

impl std::fmt::Debug for TimerLane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TimerLane")
    }
}

impl IntakeRx {
    /// A handle on the timer lane (see [`TimerLane`]).
    pub fn timer_lane(&self) -> TimerLane {
        TimerLane(self.0.clone())
    }

    /// Waits for the next event; `None` once every sender is gone and the
    /// lanes are empty.
    pub fn blocking_recv(&mut self) -> Option<HostEvent> {
        let mut lanes = self.0.lanes();
        loop {
            if let Some(event) = lanes.take() {
                return Some(event);
            }
            if self.0.senders.load(Ordering::SeqCst) == 0 {
                return None;
            }
            lanes = self
                .0
                .queued
                .wait(lanes)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// The next event if one is waiting.
    #[cfg(test)]
    pub fn try_recv(&mut self) -> Option<HostEvent> {
        self.0.lanes().take()
    }

    pub fn is_empty(&self) -> bool {
        self.0.lanes().is_empty()
    }
}

impl Drop for IntakeRx {
    fn drop(&mut self) {
        // Whoever waits for a reply (a spell, a reload) learns at once.
        let mut lanes = self.0.lanes();
        lanes.closed = true;
        lanes.events.clear();
        lanes.spells.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spell() -> (
        HostEvent,
        tokio::sync::oneshot::Receiver<crate::host::events::SpellAnswer>,
    ) {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let value = serde_json::Value::Null;
        (HostEvent::Spell { value, reply }, rx)
    }

    #[test]
    fn a_waiting_timer_is_queued_once() {
        let (tx, mut rx) = channel();
        for _ in 0..5 {
            tx.send(HostEvent::Timer(7)).unwrap();
        }
        assert!(matches!(rx.try_recv(), Some(HostEvent::Timer(7))));
        assert!(rx.try_recv().is_none());
        tx.send(HostEvent::Timer(7)).unwrap();
        assert!(matches!(rx.try_recv(), Some(HostEvent::Timer(7))));
    }

    #[test]
    fn spells_beyond_the_bound_are_refused() {
        let (tx, _rx) = channel();
        let mut waiting = Vec::new();
        for _ in 0..SPELL_QUEUE {
            let (event, reply) = spell();
            tx.send(event).unwrap();
            waiting.push(reply);
        }
        assert_eq!(tx.send(spell().0), Err(Refused::SpellsFull));
    }

    #[test]
    fn lanes_take_turns_so_a_flood_waits_behind_one_event() {
        let (tx, mut rx) = channel();
        let mut replies = Vec::new();
        for id in 0..100 {
            tx.send(HostEvent::Timer(id)).unwrap();
        }
        for _ in 0..SPELL_QUEUE {
            let (event, reply) = spell();
            tx.send(event).unwrap();
            replies.push(reply);
        }
        tx.send(HostEvent::Start).unwrap();
        // Events first: the member's event is taken before the floods.
        assert!(matches!(rx.try_recv(), Some(HostEvent::Start)));
        assert!(matches!(rx.try_recv(), Some(HostEvent::Timer(0))));
        assert!(matches!(rx.try_recv(), Some(HostEvent::Spell { .. })));
        tx.send(HostEvent::Checkin("c".into())).unwrap();
        assert!(matches!(rx.try_recv(), Some(HostEvent::Checkin(_))));
    }

    #[test]
    fn the_thread_learns_when_every_sender_left() {
        let (tx, mut rx) = channel();
        let other = tx.clone();
        tx.send(HostEvent::Start).unwrap();
        drop(tx);
        drop(other);
        assert!(matches!(rx.blocking_recv(), Some(HostEvent::Start)));
        assert!(rx.blocking_recv().is_none());
    }

    #[test]
    fn a_timer_firing_the_full_lane_cannot_take_is_refused() {
        let (tx, _rx) = channel();
        for id in 0..TIMER_LANE as u64 {
            tx.send(HostEvent::Timer(id)).unwrap();
        }
        assert_eq!(
            tx.send(HostEvent::Timer(u64::MAX)),
            Err(Refused::TimersFull)
        );
        // An id already waiting is still taken as that firing.
        assert_eq!(tx.send(HostEvent::Timer(0)), Ok(()));
    }

    #[test]
    fn a_cancelled_timers_firing_leaves_the_lane() {
        let (tx, mut rx) = channel();
        let lane = rx.timer_lane();
        for id in 0..TIMER_LANE as u64 {
            tx.send(HostEvent::Timer(id)).unwrap();
        }
        for id in 1..TIMER_LANE as u64 {
            assert!(lane.withdraw(id));
        }
        assert!(!lane.withdraw(1), "withdrawn once");
        tx.send(HostEvent::Timer(u64::MAX)).unwrap();
        assert!(matches!(rx.try_recv(), Some(HostEvent::Timer(0))));
        assert!(matches!(rx.try_recv(), Some(HostEvent::Timer(u64::MAX))));
        assert!(rx.try_recv().is_none());
    }

    #[test]
    fn sends_fail_once_the_thread_is_gone() {
        let (tx, rx) = channel();
        drop(rx);
        assert_eq!(tx.send(HostEvent::Start), Err(Refused::Closed));
    }
}
