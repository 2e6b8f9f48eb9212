//! Hot reload: a save (or SIGHUP, or a new bundle file) becomes a new
//! version of the script on every thread, with `this` kept.
//!
//! [`trigger`] turns file bursts and SIGHUP into reload requests (and
//! [`bundle`] a replaced bundle file); [`compile`] compiles the new version
//! off the script threads; [`round`] makes every thread swap, or none; and
//! [`apply`] is the swap itself, on each script thread between two events.
//!
//! A deploy moves versions in two phases instead, on all threads or some
//! (a canary): [`stage`] is its API (prepare, commit, revert, finish),
//! [`versions`] the steps on each thread, [`dry_run`] the host behind the
//! dry run of `on_reload`, and [`tags`] what the threads publish for it.

pub(super) mod apply;
pub(super) mod bundle;
pub(super) mod compile;
pub(super) mod dry_run;
pub(super) mod round;
pub mod stage;
pub(super) mod tags;
pub(super) mod trigger;
pub(super) mod versions;

#[cfg(test)]
mod stage_tests;
