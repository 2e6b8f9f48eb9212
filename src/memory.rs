//! What a running service keeps resident that it does not need: the
//! allocator's free memory, and the code pages only start-up touched.
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
//!   goes back to the system. `run` calls it once the service is up, again
//!   [`SETTLED_AFTER`] later (when the channels' first views are out) and
//!   then every [`RELEASE_INTERVAL`], so a burst of traffic does not leave
//!   its high-water mark resident for good.
//! - [`release_code_pages`], at the same times: the read-only pages mapped
//!   from files (the binary's code and constants, the libraries' code) are
//!   unmapped. Start-up (parsing the config, compiling the script, TLS, the
//!   first views) runs code spread over the whole 14 MB of text, and the
//!   kernel maps a started binary's code in 64 KiB windows around each page
//!   touched, so an idle service held some 13 MiB of code it would not run
//!   again. The pages stay in the page cache: the next event maps back what
//!   it runs with minor faults (no disk read unless the system evicted them
//!   meanwhile), and only that. Busy or idle, a service then holds the code
//!   it ran in the last [`RELEASE_INTERVAL`].
//!
//! The malloc calls are glibc's (`target_env = "gnu"`) and the unmapping
//! Linux's; elsewhere they do nothing. `MALLOC_ARENA_MAX` in the environment
//! wins over [`ARENAS`], and `MOOBIUS_MEMORY_TUNING=off` turns all three off
//! (to compare, or to rule them out).

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

/// When, after the service is up, the start-up's last work is done: the
/// check-in's views of every channel (a 1,000-member channel's take about
/// a second here). One release then, rather than a minute later, is what
/// makes a service that just started as small as one idle for long.
pub const SETTLED_AFTER: Duration = Duration::from_secs(10);

/// The environment variable that turns the tuning off (`off`).
pub const TUNING_ENV: &str = "MOOBIUS_MEMORY_TUNING";

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

/// Unmaps this process's read-only file pages (see the module comment);
/// nothing when the tuning is off. Returns the bytes of the mappings
/// released. Costs a read of `/proc/self/smaps` (about a millisecond) and
/// one `madvise` per mapping; the events after it pay a minor fault for
/// each 64 KiB of code they run again.
pub fn release_code_pages() -> usize {
    if !tuning_on() {
        return 0;
    }
    #[cfg(target_os = "linux")]
    {
        let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
            return 0;
        };
        let mut released = 0;
        for (start, len) in clean_file_mappings(&smaps) {
            // SAFETY: the range is a whole mapping of this process, private,
            // mapped from a file, without write permission, and with no
            // private (copy-on-write) page, so nothing in it differs from the
            // file: MADV_DONTNEED only drops its page table entries, and the
            // next access reads the same bytes back from the page cache. No
            // pointer into it is invalidated (the addresses stay mapped).
            let done =
                unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_DONTNEED) };
            if done == 0 {
                released += len;
            }
        }
        released
    }
    #[cfg(not(target_os = "linux"))]
    0
}

/// The mappings in `smaps` (the text of `/proc/PID/smaps`) that are private,
/// readable, not writable, mapped from a file (a path, not `[vdso]`), and
/// hold no anonymous page: the ones whose pages can be dropped and read back
/// unchanged. A relocated read-only segment (RELRO) holds anonymous pages
/// and is left alone. As (start address, length).
fn clean_file_mappings(smaps: &str) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    // The mapping being read, if it qualifies so far.
    let mut current: Option<(usize, usize)> = None;
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or_default();
        if let Some(range) = mapping_range(first) {
            current = None;
            let perms = fields.next().unwrap_or_default();
            let path = fields.nth(3).unwrap_or_default();
            if perms.len() == 4
                && perms.starts_with("r-")
                && perms.ends_with('p')
                && path.starts_with('/')
            {
                current = Some(range);
            }
        } else if first == "Anonymous:" {
            if let Some(range) = current.take() {
                if fields.next() == Some("0") {
                    found.push(range);
                }
            }
        }
    }
    found
}

/// `start-end` (hex) as (start, length).
fn mapping_range(field: &str) -> Option<(usize, usize)> {
    let (start, end) = field.split_once('-')?;
    let start = usize::from_str_radix(start, 16).ok()?;
    let end = usize::from_str_radix(end, 16).ok()?;
    Some((start, end.checked_sub(start)?))
}

/// Calls [`release_free`] and [`release_code_pages`] after `first`, then
/// every `every`, for as long as the runtime runs.
pub fn spawn_periodic_release(first: Duration, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + first, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            release_free();
            release_code_pages();
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_clean_read_only_file_mappings_are_released() {
        let smaps = "\
55d0a0000000-55d0a0100000 r--p 00000000 fd:01 123 /usr/bin/host
Rss:                 100 kB
Anonymous:             0 kB
55d0a0100000-55d0a0e00000 r-xp 00100000 fd:01 123 /usr/bin/host
Anonymous:             0 kB
55d0a0e00000-55d0a0f00000 r--p 00e00000 fd:01 123 /usr/bin/host
Anonymous:           556 kB
55d0a0f00000-55d0a0f10000 rw-p 00f00000 fd:01 123 /usr/bin/host
Anonymous:            64 kB
7f0000000000-7f0000001000 r--s 00000000 fd:01 9 /dev/shm/shared
Anonymous:             0 kB
7f0000001000-7f0000002000 r-xp 00000000 00:00 0 [vdso]
Anonymous:             0 kB
7f0000002000-7f0000003000 ---p 00000000 fd:01 7 /usr/lib/libc.so.6
Anonymous:             0 kB
7f0000003000-7f0000005000 r-xp 00028000 fd:01 7 /usr/lib/libc.so.6 (deleted)
VmFlags: rd ex mr mw me
Anonymous:             0 kB
";
        assert_eq!(
            clean_file_mappings(smaps),
            [
                (0x55d0_a000_0000, 0x10_0000),
                (0x55d0_a010_0000, 0xd0_0000),
                (0x7f00_0000_3000, 0x2000)
            ]
        );
    }

    #[test]
    fn releasing_code_pages_keeps_the_process_running() {
        // Its own test binary: the code that runs next is read back.
        let released = release_code_pages();
        if tuning_on() {
            assert!(
                released > 0,
                "the test binary's text is a clean file mapping"
            );
        }
        assert_eq!(mapping_range("10-30"), Some((0x10, 0x20)));
        assert_eq!(mapping_range("30-10"), None);
    }
}
