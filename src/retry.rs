//! One back-off for every retry loop, and every retry policy in one place.
//!
//! The platform link, the host's dispatch, the group cache, the gateway and
//! the cluster's Redis loops each used to wait their own way (`25 << retry`,
//! a hand-doubled `Duration`, fixed `RETRY` constants), so "how long does X
//! wait before trying again" had seven answers in seven files. Here a
//! [`Backoff`] is the one shape (a first wait, a factor, a cap and a random
//! share added to each wait) and the named policies below are the only
//! figures: each says why it is what it is.
//!
//! A `Backoff` is a value with no I/O and no clock: [`Backoff::step`] gives
//! the next wait without jitter (what the link's pure state machine uses, so
//! its tests stay exact), [`Backoff::next`] adds the jitter, and
//! [`Backoff::next_with`] takes the random source, so tests can seed it.

use rand::Rng;
use std::time::Duration;

/// A growing wait: `min`, then `min * factor`, ... capped at `max`, each
/// wait lengthened by a random share of up to `jitter` (0.5: up to +50%).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    factor: u32,
    jitter: f64,
    /// The next wait, before jitter.
    next: Duration,
}

impl Backoff {
    /// The platform link's reconnections (`reconnect_min_ms` to
    /// `reconnect_max_ms` from the config, see [`Backoff::reconnect`]):
    /// doubling, and up to +50% at random so that the hosts a platform
    /// restart dropped do not all come back in the same millisecond.
    pub const RECONNECT_FACTOR: u32 = 2;
    pub const RECONNECT_JITTER: f64 = 0.5;

    /// The link's sign-ins again after refusals in a row (the first is at
    /// once, see `platform::link_state`): the SDK re-logs in a tight loop
    /// on refusals, and a platform that refuses a token keeps refusing it
    /// for a while. Capped at 30 s so a fixed platform is back soon.
    pub const REAUTH: Backoff =
        Backoff::new(Duration::from_millis(250), Duration::from_secs(30), 2, 0.0);

    /// The gateway's sign-in while it holds the lease: no channel of the
    /// cluster is served until it succeeds, so the cap is short (5 s); one
    /// gateway per cluster, so no jitter is needed.
    pub const GATEWAY_SIGN_IN: Backoff =
        Backoff::new(Duration::from_millis(200), Duration::from_secs(5), 2, 0.0);

    /// A platform HTTP call a frame waits on (expanding a message's
    /// recipients, creating a group): a hiccup usually lasts milliseconds,
    /// so the first retry is soon; the callers bound the number of tries
    /// (dispatch stalls every event while it retries, so it tries fewer).
    pub const PLATFORM_CALL: Backoff = Backoff::new(
        Duration::from_millis(25),
        Duration::from_millis(1_600),
        2,
        0.0,
    );

    /// A cluster loop Redis failed (reading the streams, `down` or the
    /// relayed calls, appending a batch): these retry until Redis answers,
    /// so the wait grows to spare a struggling Redis (out of memory, say),
    /// capped at 1 s, below a third of the default lease, so a Redis back
    /// is noticed within a lease tick. Jitter keeps the nodes' threads
    /// from retrying in step.
    pub const CLUSTER_REDIS: Backoff =
        Backoff::new(Duration::from_millis(100), Duration::from_secs(1), 2, 0.25);

    /// The cluster's pollers after an empty poll: 1 ms doubling to 8 ms
    /// while nothing comes, reset as soon as something does. They poll
    /// rather than block in Redis (`XREADGROUP` without `BLOCK`, `RPOP`
    /// rather than `BRPOP`) on purpose: Redis serves a client blocked in a
    /// read whenever data arrives, even if that process was paused long
    /// ago, so a paused node would take events after its lease ended and
    /// they would surface out of order minutes later. A poll is answered at
    /// once, before the lease can end. The cost: up to 8 ms more latency
    /// after a quiet spell, a few hundred small round trips a second per
    /// idle node. No jitter: the waits are too short to collide.
    pub const IDLE_POLL: Backoff =
        Backoff::new(Duration::from_millis(1), Duration::from_millis(8), 2, 0.0);

    /// Waiting for a cluster lock (a lease taken as a lock) to be free: a
    /// holder keeps it for one short operation, so a steady 20 ms look.
    pub const LOCK_POLL: Backoff = Backoff::fixed(Duration::from_millis(20));

    /// The admin endpoint after a failed `accept` (out of descriptors,
    /// usually): a steady 100 ms, as retrying at once would spin.
    pub const ADMIN_ACCEPT: Backoff = Backoff::fixed(Duration::from_millis(100));

    /// A policy: `min` first, times `factor` after each wait, at most `max`
    /// (raised to `min` if below), plus up to `jitter` (clamped to 0..=1)
    /// of each wait at random. A `factor` of 0 counts as 1.
    pub const fn new(min: Duration, max: Duration, factor: u32, jitter: f64) -> Self {
        let max = if max.as_nanos() < min.as_nanos() {
            min
        } else {
            max
        };
        let factor = if factor == 0 { 1 } else { factor };
        let jitter = if jitter.is_nan() || jitter < 0.0 {
            0.0
        } else if jitter > 1.0 {
            1.0
        } else {
            jitter
        };
        Backoff {
            min,
            max,
            factor,
            jitter,
            next: min,
        }
    }

    /// The same wait every time, no jitter.
    pub const fn fixed(wait: Duration) -> Self {
        Backoff::new(wait, wait, 1, 0.0)
    }

    /// The link's reconnections between the config's bounds (see
    /// [`Backoff::RECONNECT_FACTOR`]).
    pub const fn reconnect(min: Duration, max: Duration) -> Self {
        Backoff::new(min, max, Self::RECONNECT_FACTOR, Self::RECONNECT_JITTER)
    }

    /// The same policy without jitter (for tests, or a lone caller).
    pub const fn without_jitter(self) -> Self {
        Backoff {
            jitter: 0.0,
            ..self
        }
    }

    /// The first wait.
    pub fn min(&self) -> Duration {
        self.min
    }

    /// The next wait without jitter, and moves on (deterministic).
    pub fn step(&mut self) -> Duration {
        let wait = self.next;
        self.next = self.next.saturating_mul(self.factor).min(self.max);
        wait
    }

    /// The next wait with jitter from the thread's random source. Not an
    /// `Iterator`: a back-off never ends, and `for` over one would spin.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Duration {
        self.next_with(&mut rand::rng())
    }

    /// The next wait with jitter from `rng` (seed it in tests).
    pub fn next_with(&mut self, rng: &mut impl Rng) -> Duration {
        let wait = self.step();
        self.jitter_with(wait, rng)
    }

    /// `wait` lengthened by this policy's jitter, from the thread's source.
    pub fn jitter(&self, wait: Duration) -> Duration {
        self.jitter_with(wait, &mut rand::rng())
    }

    /// `wait` lengthened by up to `jitter` of itself, drawn from `rng`.
    pub fn jitter_with(&self, wait: Duration, rng: &mut impl Rng) -> Duration {
        if self.jitter == 0.0 {
            return wait;
        }
        let share = rng.random::<f64>() * self.jitter;
        let extra =
            Duration::try_from_secs_f64(wait.as_secs_f64() * share).unwrap_or(Duration::MAX);
        wait.saturating_add(extra)
    }

    /// Back to the first wait (after a success).
    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn doubles_up_to_the_cap() {
        let mut b = Backoff::new(ms(25), ms(300), 2, 0.0);
        let waits: Vec<u128> = (0..6).map(|_| b.next().as_millis()).collect();
        assert_eq!(waits, [25, 50, 100, 200, 300, 300]);
    }

    #[test]
    fn reset_starts_over() {
        let mut b = Backoff::GATEWAY_SIGN_IN;
        b.step();
        b.step();
        b.reset();
        assert_eq!(b.step(), ms(200));
    }

    #[test]
    fn jitter_stays_within_its_share_and_a_seed_repeats_it() {
        let mut b = Backoff::new(ms(100), ms(100), 2, 0.5);
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let waits: Vec<Duration> = (0..1_000).map(|_| b.next_with(&mut rng)).collect();
        assert!(waits.iter().all(|w| *w >= ms(100) && *w <= ms(150)));
        assert!(waits.iter().any(|w| *w != waits[0]), "no jitter at all");
        let mut again = rand::rngs::StdRng::seed_from_u64(7);
        let mut b2 = Backoff::new(ms(100), ms(100), 2, 0.5);
        assert_eq!(b2.next_with(&mut again), waits[0]);
    }

    #[test]
    fn without_jitter_is_exact() {
        let mut b = Backoff::CLUSTER_REDIS.without_jitter();
        let waits: Vec<u128> = (0..5).map(|_| b.next().as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1_000]);
    }

    #[test]
    fn no_overflow_at_large_attempt_counts() {
        let mut b = Backoff::new(ms(1), Duration::MAX, 10, 1.0);
        for _ in 0..10_000 {
            b.next();
        }
        assert_eq!(b.step(), Duration::MAX);
        assert_eq!(b.jitter(Duration::MAX), Duration::MAX);
    }

    #[test]
    fn bad_figures_are_made_safe() {
        let mut b = Backoff::new(ms(50), ms(10), 0, f64::NAN);
        assert_eq!((b.next(), b.next()), (ms(50), ms(50)));
        assert_eq!(Backoff::fixed(ms(20)).next(), ms(20));
    }
}
