//! How long a poller waits after finding nothing: 1 ms, doubling to 8 ms
//! while nothing comes, back to nothing as soon as something does.
//!
//! The cluster's readers poll rather than block in Redis (`XREADGROUP`
//! without `BLOCK`, `RPOP` rather than `BRPOP`) on purpose: Redis serves a
//! client blocked in a read whenever data arrives, even if that process was
//! paused long ago. A paused member blocked in a read would take events
//! after its lease ended and after the new owner claimed what was pending,
//! and they would surface out of order minutes later. A poll is answered at
//! once, before the lease can end, so whatever a member took, it took while
//! it was the owner, and the next owner's claim finds it. The cost: up to
//! 8 ms more latency on a first event after a quiet spell, and a few
//! hundred small round trips a second per idle member.

use std::time::Duration;

const FIRST: Duration = Duration::from_millis(1);
const MOST: Duration = Duration::from_millis(8);

#[derive(Debug, Clone, Copy)]
pub struct IdleBackoff {
    next: Duration,
}

impl Default for IdleBackoff {
    fn default() -> Self {
        IdleBackoff { next: FIRST }
    }
}

impl IdleBackoff {
    /// Something came: the next empty poll waits the least.
    pub fn busy(&mut self) {
        self.next = FIRST;
    }

    /// Nothing came: how long to wait before polling again.
    pub fn idle(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(MOST);
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_while_idle_and_reset_when_busy() {
        let mut b = IdleBackoff::default();
        let waits: Vec<u128> = (0..6).map(|_| b.idle().as_millis()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 8, 8]);
        b.busy();
        assert_eq!(b.idle(), FIRST);
    }
}
