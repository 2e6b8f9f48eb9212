//! The script threads: OS threads (not tokio tasks), because a Rhai engine,
//! its compiled script and every Rhai value stay on the thread that made
//! them, and a handler may run for as long as its limits allow. Only these
//! threads may block; everything else in the host is a tokio task.
//!
//! The way in is [`executor`] (start, send, reload, stop); each thread's
//! loop is [`script_thread`], fed by its [`intake`]'s lanes; [`shards`]
//! says which thread serves which channel; [`handler_call`] turns one event
//! into the handler call it means (`on_join`, `on_message_up`...), and
//! [`user_events`] does the same for user mode.

pub(super) mod call;
pub(super) mod executor;
pub(super) mod handlers;
pub(super) mod intake;
pub(super) mod script_thread;
pub(super) mod shards;
pub(super) mod shared;
pub(super) mod user_events;
