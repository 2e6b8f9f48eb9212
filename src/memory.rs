//! The allocator's share of a running service's resident memory.
//!
//! glibc's malloc gives every thread that allocates while another holds the
//! lock an arena of its own (up to 8 per core), and keeps what the program
//! frees for later: the start-up (compiling the script, signing in, checking
//! the channels in, building each channel's first views) leaves some 2 MB
//! free in the arenas of an idle service that uses 1.6 MB. Measured on the
//! tutorial's service (bench/RESULTS.md, "Idle memory"), two calls take it
//! back:
//!
//! - [`limit_arenas`], at start: at most [`ARENAS`] arenas. The script
//!   threads and the runtime's workers then share them instead of each
//!   keeping its own free memory.
//! - [`release_free`] (`malloc_trim(0)`): the free memory inside the arenas
//!   goes back to the system. `run` calls it once the service is up and then
//!   every [`RELEASE_INTERVAL`], so a burst of traffic does not leave its
//!   high-water mark resident for good.
//!
//! Both are glibc's (`target_env = "gnu"`); elsewhere (musl, other systems)
//! they do nothing. `MALLOC_ARENA_MAX` in the environment wins over
//! [`ARENAS`], and `MOOBIUS_MALLOC_TUNING=off` turns both off (to compare,
//! or to rule them out).

use std::time::Duration;

/// Arenas at most, when the environment does not say (`MALLOC_ARENA_MAX`).
/// Two: the script thread and the runtime's side of a refresh allocate at
/// the same time, and on a 2-core machine one arena made W1 no slower but a
/// lock they would contend for on a larger one (bench/RESULTS.md).
pub const ARENAS: i32 = 2;

/// How often a running service hands free memory back: rarely enough that
/// the walk costs nothing measurable (a millisecond a minute at most), often
/// enough that memory freed after a burst is not held for long.
pub const RELEASE_INTERVAL: Duration = Duration::from_secs(60);

/// The environment variable that turns the tuning off (`off`).
pub const TUNING_ENV: &str = "MOOBIUS_MALLOC_TUNING";

/// Whether the tuning applies: not when [`TUNING_ENV`] is `off`.
fn tuning_on() -> bool {
    std::env::var(TUNING_ENV).map_or(true, |v| !v.eq_ignore_ascii_case("off"))
}

/// At most [`ARENAS`] malloc arenas, unless `MALLOC_ARENA_MAX` is set or the
/// tuning is off. Call it first thing in `main`, before any thread starts.
pub fn limit_arenas() {
    if !tuning_on() || std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a number in glibc's malloc parameters, under
    // malloc's own lock; it takes no pointer and fails by returning 0.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
    }
}

/// Gives the free memory kept inside malloc's arenas back to the system
/// (glibc's `malloc_trim(0)`); nothing when the tuning is off. Costs a walk
/// of the arenas' free lists (well under a millisecond for a service's
/// few megabytes), under each arena's lock in turn.
pub fn release_free() {
    if !tuning_on() {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointer; it releases only pages that hold
    // no allocation, under each arena's lock, and is safe from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Calls [`release_free`] every `every`, for as long as the runtime runs.
pub fn spawn_periodic_release(every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is at once: the caller released already.
        tick.tick().await;
        loop {
            tick.tick().await;
            release_free();
        }
    })
}
