//! Hot reload: a save (or SIGHUP, or a new bundle file) becomes a new
//! version of the script on every thread, with `this` kept.
//!
//! [`trigger`] turns file bursts and SIGHUP into reload requests (and
//! [`bundle`] a replaced bundle file); [`compile`] compiles the new version
//! off the script threads; [`round`] makes every thread swap, or none; and
//! [`apply`] is the swap itself, on each script thread between two events.

pub(super) mod apply;
pub(super) mod bundle;
pub(super) mod compile;
pub(super) mod round;
pub(super) mod trigger;
