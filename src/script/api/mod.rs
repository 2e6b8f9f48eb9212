//! The functions a service script may call, with the Python SDK's names and
//! argument order so that tutorial code ports line by line.
//!
//! Each function converts Rhai values to plain Rust values and hands them to
//! [`HostApi`]; argument mistakes become script errors that name the function
//! and the argument, at the script's line, and the host keeps running.

mod characters;
pub mod convert;
mod error;
mod messages;
mod platform;
pub mod requests;
pub mod schema;
mod store;
pub mod timers;
pub mod user;
mod views;

pub use error::{HostCallError, HostResult};
pub use messages::OutgoingMessage;
pub use requests::{is_http_url, HttpRequest, HttpResponse, NewRequest};
pub use store::KeyValue;
pub use timers::{NewTimer, PendingTimer};
pub use user::UserFrame;
pub use views::ViewUpdate;

use super::{AgentProfile, Character};
use crate::protocol::IdList;
use rhai::Engine;
use serde_json::Value;
use std::rc::Rc;

/// A file fetched by `download`: the bytes, or where they were saved.
#[derive(Debug, Clone, PartialEq)]
pub enum Downloaded {
    Bytes(Vec<u8>),
    /// A path relative to the service directory.
    Saved(String),
}

fn unsupported<T>(what: &'static str) -> HostResult<T> {
    Err(HostCallError::Unsupported(what))
}

/// What the host provides to scripts. Errors say why, for the author, and
/// keep their kind and cause ([`HostCallError`]).
/// Sends queue work and return at once; the others may wait on the platform.
pub trait HostApi {
    /// The channel's members, from the host's member table.
    fn member_ids(&self, channel_id: &str) -> HostResult<Vec<String>>;
    /// Queues a characters update (lists are converted to group ids later).
    fn send_characters(
        &self,
        channel_id: &str,
        characters: IdList,
        recipients: IdList,
    ) -> HostResult<()>;
    fn create_agent(&self, profile: &AgentProfile) -> HostResult<Character>;
    fn fetch_agents(&self) -> HostResult<Vec<Character>>;
    fn fetch_profiles(&self, ids: Vec<String>) -> HostResult<Vec<Character>>;

    /// Queues a buttons / canvas / menu / style update.
    fn send_update(&self, update: ViewUpdate) -> HostResult<()> {
        let _ = update;
        unsupported("send_update")
    }
    /// Queues an `update/channel_info` (a ChannelInfo record).
    fn update_channel_info(&self, channel_id: &str, info: Value) -> HostResult<()> {
        let _ = (channel_id, info);
        unsupported("update_channel_info")
    }
    fn send_message(&self, message: OutgoingMessage) -> HostResult<()> {
        let _ = message;
        unsupported("send_message")
    }
    /// `Ok(None)` for a URL; `Ok(Some(size))` for a local file inside the
    /// service directory; an error otherwise.
    fn check_file(&self, reference: &str) -> HostResult<Option<u64>> {
        let _ = reference;
        unsupported("files")
    }
    fn update_agent(&self, character_id: &str, profile: &AgentProfile) -> HostResult<Character> {
        let _ = (character_id, profile);
        unsupported("update_agent")
    }
    fn fetch_channel_list(&self) -> HostResult<Value> {
        unsupported("fetch_channel_list")
    }
    fn create_channel(&self, name: &str, description: &str) -> HostResult<String> {
        let _ = (name, description);
        unsupported("create_channel")
    }
    fn fetch_message_history(&self, channel_id: &str, limit: i64) -> HostResult<Value> {
        let _ = (channel_id, limit);
        unsupported("fetch_message_history")
    }
    fn download(&self, url: &str, save_as: Option<&str>) -> HostResult<Downloaded> {
        let _ = (url, save_as);
        unsupported("download")
    }
    /// Arms a timer; its id.
    fn start_timer(&self, timer: NewTimer) -> HostResult<u64> {
        let _ = timer;
        unsupported("timers")
    }
    /// True when the timer was pending.
    fn cancel_timer(&self, id: u64) -> HostResult<bool> {
        let _ = id;
        unsupported("timers")
    }
    fn pending_timers(&self) -> HostResult<Vec<PendingTimer>> {
        unsupported("timers")
    }
    /// Ticks the periodic timer being called back missed (0 elsewhere).
    fn timer_missed(&self) -> HostResult<u64> {
        Ok(0)
    }
    /// Starts a request whose outcome is handed to `callback` (with
    /// `context`) later; its id.
    fn start_request(&self, request: NewRequest) -> HostResult<u64> {
        let _ = request;
        unsupported("request")
    }
    /// Sends a user's frame (user mode only).
    fn send_as_user(&self, frame: UserFrame) -> HostResult<()> {
        let _ = frame;
        unsupported("user mode")
    }
    /// `store(channel_id, name)`: the named store's part for that channel.
    fn store(&self, channel_id: &str, name: &str) -> HostResult<Rc<dyn KeyValue>> {
        let _ = (channel_id, name);
        unsupported("store")
    }
}

pub(super) fn register(engine: &mut Engine, host: Rc<dyn HostApi>) {
    characters::register(engine, &host);
    views::register(engine, &host);
    messages::register(engine, &host);
    platform::register(engine, &host);
    store::register(engine, &host);
    timers::register(engine, &host);
    requests::register(engine, &host);
    user::register(engine, &host);
}
