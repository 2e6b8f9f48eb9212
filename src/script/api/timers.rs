//! `after`, `every`, `cancel`, `timers`: scripts that act over time.
//!
//! The script names the function to call (`"close_poll"`, or
//! `Fn("close_poll")`); the host looks it up by name when the timer fires,
//! so a timer armed by one version of the script calls the function of the
//! version running when it fires (see `host/timers.rs`). The limits here are
//! the one home of their numbers (docs/AUTHORING.md's table quotes them).

use super::convert::{host_failed, script_error, Fallible};
use super::HostApi;
use crate::script::defs;
use rhai::{Array, Dynamic, Engine, FnPtr, ImmutableString, Map};
use std::rc::Rc;

/// The shortest delay (`after`, and the first tick of `every`).
pub const MIN_DELAY_MS: i64 = 1;
/// The longest delay: 30 days. Longer waits belong in a store (see the
/// durable schedules in docs/AUTHORING.md, "Timers").
pub const MAX_DELAY_MS: i64 = 30 * 24 * 3600 * 1000;
/// The shortest period of `every`: a tighter loop would crowd out members'
/// events on the script thread.
pub const MIN_EVERY_MS: i64 = 10;
/// Timers pending at once, per service.
pub const MAX_PENDING_TIMERS: usize = 10_000;

/// A timer as a script arms it.
#[derive(Debug, Clone)]
pub struct NewTimer {
    pub delay_ms: u64,
    /// `every`: the period; `after`: `None`.
    pub period_ms: Option<u64>,
    pub callback: String,
    pub arg: Option<Dynamic>,
}

/// A pending timer, as `timers()` lists it.
#[derive(Debug, Clone)]
pub struct PendingTimer {
    pub id: u64,
    pub callback: String,
    pub due_in_ms: u64,
    pub period_ms: Option<u64>,
    pub arg: Option<Dynamic>,
}

impl PendingTimer {
    fn to_map(&self) -> Dynamic {
        let mut m = Map::new();
        m.insert("id".into(), Dynamic::from(self.id as i64));
        m.insert("fn".into(), Dynamic::from(self.callback.clone()));
        m.insert("due_in_ms".into(), Dynamic::from(self.due_in_ms as i64));
        let every = self
            .period_ms
            .map_or(Dynamic::UNIT, |p| Dynamic::from(p as i64));
        m.insert("every_ms".into(), every);
        m.insert("arg".into(), self.arg.clone().unwrap_or(Dynamic::UNIT));
        Dynamic::from_map(m)
    }
}

/// The function a timer or a request calls back: a name, or a plain `Fn`.
pub(super) fn callback_name(f: &Dynamic, func: &str) -> Fallible<String> {
    let name = if let Some(s) = f.read_lock::<ImmutableString>() {
        s.to_string()
    } else if let Some(p) = f.read_lock::<FnPtr>() {
        if p.is_curried() || p.is_anonymous() {
            return Err(script_error(format!(
                "{func}: the callback must be a named function (a closure cannot outlive its handler)"
            )));
        }
        p.fn_name().to_string()
    } else {
        return Err(script_error(format!(
            "{func}: callback: expected a function name (string), got {}",
            f.type_name()
        )));
    };
    let valid = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(script_error(format!(
            "{func}: callback: {name:?} is not a function name"
        )));
    }
    Ok(name)
}

fn delay(ms: i64, func: &str, arg: &str, min: i64) -> Fallible<u64> {
    if !(min..=MAX_DELAY_MS).contains(&ms) {
        return Err(script_error(format!(
            "{func}: {arg}: {ms} is out of range (expected {min} to {MAX_DELAY_MS} ms)"
        )));
    }
    Ok(ms as u64)
}

fn arm(
    h: &dyn HostApi,
    func: &str,
    ms: i64,
    f: &Dynamic,
    arg: Option<Dynamic>,
    every: bool,
) -> Fallible<i64> {
    let min = if every { MIN_EVERY_MS } else { MIN_DELAY_MS };
    let ms = delay(ms, func, "ms", min)?;
    let timer = NewTimer {
        delay_ms: ms,
        period_ms: every.then_some(ms),
        callback: callback_name(f, func)?,
        arg,
    };
    let id = h.start_timer(timer).map_err(host_failed)?;
    Ok(id as i64)
}

pub(super) fn register(engine: &mut Engine, host: &Rc<dyn HostApi>) {
    let once = format!("once, `ms` milliseconds from now ({MIN_DELAY_MS} to {MAX_DELAY_MS} ms)");
    let every_ms =
        format!("every `ms` milliseconds ({MIN_EVERY_MS} to {MAX_DELAY_MS} ms) until cancelled");
    const HOW: &str = "between two events (a timer never interrupts a handler). `callback`: \
                       a function name (or `Fn(\"name\")`). Returns the timer's id, for \
                       `cancel`.";
    for (func, every, when) in [("after", false, &once), ("every", true, &every_ms)] {
        let h = host.clone();
        defs::register_fn(
            engine,
            func,
            ["ms", "callback"],
            &format!("Calls `this.callback()` {when}, {HOW}"),
            move |ms: i64, f: Dynamic| -> Fallible<i64> {
                arm(h.as_ref(), func, ms, &f, None, every)
            },
        );
        let h = host.clone();
        defs::register_fn(
            engine,
            func,
            ["ms", "callback", "arg"],
            &format!("Calls `this.callback(arg)` {when}, {HOW}"),
            move |ms: i64, f: Dynamic, arg: Dynamic| -> Fallible<i64> {
                arm(h.as_ref(), func, ms, &f, Some(arg), every)
            },
        );
    }
    let h = host.clone();
    defs::register_fn(
        engine,
        "cancel",
        ["id"],
        "Cancels the timer `id` (from `after` or `every`); true if it was pending.",
        move |id: i64| -> Fallible<bool> {
            let Ok(id) = u64::try_from(id) else {
                return Ok(false);
            };
            h.cancel_timer(id).map_err(host_failed)
        },
    );
    // Wall time, for schedules kept in a store across restarts.
    defs::register_fn(
        engine,
        "now_ms",
        [],
        "The wall clock: milliseconds since the Unix epoch.",
        crate::clock::now_ms,
    );
    let h = host.clone();
    defs::register_fn(
        engine,
        "timer_missed",
        [],
        "In an `every` timer's callback: how many ticks came due while this \
         firing waited for the script thread (they are not fired: one firing \
         waits at most per timer). 0 anywhere else.",
        move || -> Fallible<i64> {
            let missed = h.timer_missed().map_err(host_failed)?;
            Ok(i64::try_from(missed).unwrap_or(i64::MAX))
        },
    );
    let h = host.clone();
    defs::register_fn(
        engine,
        "timers",
        [],
        "The pending timers: `[#{id, fn, due_in_ms, every_ms, arg}]`.",
        move || -> Fallible<Array> {
            let pending = h.pending_timers().map_err(host_failed)?;
            Ok(pending.iter().map(PendingTimer::to_map).collect())
        },
    );
}
