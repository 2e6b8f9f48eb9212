//! The host's side of the script API: what `fetch_member_ids`,
//! `send_characters`, `create_agent`... actually do.
//!
//! It runs on the script thread. Sends are queued to the outbox and return at
//! once, counted against the handler's output budget; only calls whose result
//! the script needs (creating an agent, fetching profiles) wait on the
//! network, and never longer than the handler has left of its time budget
//! (nor than [`HOST_CALL`]), because nothing can interrupt a handler
//! blocked inside a host function.

pub(super) mod agents;
pub(super) mod members;

use crate::config::Mode;
use crate::host::bridge::agents::AgentBook;
use crate::host::bridge::members::MemberTable;
use crate::host::callbacks::Callbacks;
use crate::host::outbox::{Downward, OutboxRefused, OutboxSender};
use crate::platform::upload::is_url;
use crate::platform::{HttpApi, PlatformError, Uploader};
use crate::protocol::http::{CharacterContext, CharacterObject};
use crate::protocol::IdList;
use crate::script::{AgentProfile, NewRequest, NewTimer, PendingTimer, UserFrame, ViewUpdate};
use crate::script::{
    BudgetExceeded, Character, Downloaded, HostApi, HostCallError, HostResult, OutgoingMessage,
};
use crate::timeouts::HOST_CALL;
use serde_json::Value;
use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;

/// The largest file `download` accepts.
const MAX_DOWNLOAD: u64 = 64 << 20;
/// Where `download(url, name)` saves, under the service directory.
const DOWNLOAD_DIR: &str = "downloads";

pub use crate::host::cause::Cause;

pub struct HostBridge {
    pub members: Rc<RefCell<MemberTable>>,
    pub outbox: OutboxSender,
    pub http: Arc<HttpApi>,
    pub uploader: Arc<Uploader>,
    pub rt: tokio::runtime::Handle,
    /// Known once the service is signed in (set before any handler runs).
    pub service_id: Rc<RefCell<String>>,
    /// The service's stores (`db_config`), shared with any other script
    /// thread.
    pub stores: Arc<crate::store::Stores>,
    /// Timers and requests waiting to call the script back.
    pub callbacks: Callbacks,
    /// What the script threads share (the agents, the status).
    pub shared: Arc<crate::host::threads::shared::Shared>,
    /// Which script thread this is (its channels' member tables are here).
    pub place: crate::host::threads::shared::Place,
    /// How many `fresh: true` agents of each name this thread asked for.
    pub fresh_agents: RefCell<std::collections::HashMap<String, usize>>,
    /// Service or user: which of the functions that send frames may be called.
    pub mode: Mode,
    /// In a cluster, the partition event being handled: the frames it
    /// sends get request ids derived from it (see [`Cause`]).
    pub cause: RefCell<Option<Cause>>,
}

/// The error of a call that ran out of time; the handler is aborted when
/// it was its budget (not the per-call cap) that ran out.
fn budget_spent(out_of_budget: Option<String>, what: &str) -> HostCallError {
    match out_of_budget {
        Some(why) => {
            crate::script::abort_handler(&why);
            HostCallError::Budget(BudgetExceeded::new(why))
        }
        None => HostCallError::Refused(format!(
            "{what}: no answer from the platform within {HOST_CALL:?}"
        )),
    }
}

pub fn character_of(c: CharacterObject) -> Character {
    Character {
        character_id: c.character_id,
        name: c.character_context.name,
        avatar: c.character_context.avatar,
        description: c.character_context.description,
    }
}

impl HostBridge {
    /// `downloads/`, made when missing; one that resolves outside the
    /// service directory (a symlink) is refused, never written through.
    fn download_dir(&self) -> HostResult<std::path::PathBuf> {
        let base = self.uploader.base_dir();
        let dir = base.join(DOWNLOAD_DIR);
        if std::fs::symlink_metadata(&dir).is_err() {
            std::fs::create_dir_all(&dir).map_err(|source| HostCallError::Io {
                what: format!("download: {}", dir.display()),
                source,
            })?;
        }
        crate::platform::upload::resolve_inside(&base, DOWNLOAD_DIR)
            .map_err(|e| HostCallError::Refused(format!("download: {e}")))
    }

    fn wait<T>(
        &self,
        what: &str,
        fut: impl Future<Output = Result<T, PlatformError>>,
    ) -> HostResult<T> {
        self.commit_stores()?;
        let (limit, out_of_budget) = match crate::script::remaining_budget() {
            Some((left, budget)) if left < HOST_CALL => (
                left,
                Some(format!(
                    "{what}: no answer within the handler's time budget ({} ms, script_limits.timeout_ms)",
                    budget.as_millis()
                )),
            ),
            _ => (HOST_CALL, None),
        };
        if limit.is_zero() {
            return Err(budget_spent(out_of_budget, what));
        }
        // The timer must be created inside the runtime, hence the async block.
        match self
            .rt
            .block_on(async { tokio::time::timeout(limit, fut).await })
        {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(HostCallError::Platform {
                call: what.to_string(),
                source: Box::new(e),
            }),
            Err(_) => Err(budget_spent(out_of_budget, what)),
        }
    }

    pub fn set_cause(&self, cause: Option<Cause>) {
        *self.cause.borrow_mut() = cause;
    }

    fn queue(&self, item: Downward) -> HostResult<()> {
        let what = item.call_name();
        match (self.mode, matches!(item, Downward::User(_))) {
            (Mode::Service, false) | (Mode::User, true) => {}
            (Mode::User, false) => return Err(HostCallError::Refused(format!(
                "{what} is a service's function; this script runs in user mode (service_mode: false)"
            ))),
            (Mode::Service, true) => return Err(HostCallError::Refused(format!(
                "{what} is a user-mode function (service_mode: false); this script runs as a service"
            ))),
        }
        crate::script::charge_output(what, item.content_bytes())?;
        self.commit_stores()?;
        let (limit, budget) = match crate::script::remaining_budget() {
            Some((left, budget)) => (left.min(HOST_CALL), Some(budget)),
            None => (HOST_CALL, None),
        };
        let item = match self.cause.borrow_mut().as_mut() {
            Some(cause) => cause.wrap(item),
            None => item,
        };
        match self.outbox.send_within(&self.rt, item, limit) {
            Ok(()) => Ok(()),
            Err(OutboxRefused::Closed) => Err(HostCallError::ShuttingDown {
                call: what.to_string(),
            }),
            Err(OutboxRefused::Full) => {
                let why = format!(
                    "{what}: the platform reads slower than this handler sends; no room in the outgoing queue within {}",
                    match budget {
                        Some(b) => format!("the handler's time budget ({} ms, script_limits.timeout_ms)", b.as_millis()),
                        None => format!("{HOST_CALL:?}"),
                    }
                );
                crate::script::abort_handler(&why);
                Err(HostCallError::Budget(BudgetExceeded::new(why)))
            }
        }
    }

    /// Store writes become durable before anything the handler does leaves
    /// the host, so whatever a member saw, the writes before it survive.
    /// Commits this thread's writes only (see `Stores` on threads).
    pub fn commit_stores(&self) -> HostResult<()> {
        self.stores
            .commit()
            .map_err(|e| HostCallError::Store(Box::new(e)))
    }

    /// Sets the service id and runs the stores' start-up (`clear`, `load`).
    pub fn set_service_id(&self, service_id: String) {
        if let Err(e) = self.stores.start(&service_id) {
            tracing::error!("store start-up failed: {e}");
        }
        *self.service_id.borrow_mut() = service_id;
    }

    /// Re-reads a channel's members from the platform into the table.
    pub fn resync(&self, channel_id: &str) -> HostResult<()> {
        let service_id = self.service_id.borrow().clone();
        let members = self.wait(
            "member list",
            self.http.channel_members(channel_id, &service_id),
        )?;
        self.members.borrow_mut().replace(channel_id, members);
        Ok(())
    }

    /// The ids behind a group id a user received (user mode).
    pub fn expand_group(&self, group_id: &str, channel_id: &str) -> HostResult<Vec<String>> {
        let user_id = self.service_id.borrow().clone();
        self.wait(
            "GET /user/group",
            self.http.group_members(group_id, channel_id, &user_id),
        )
    }

    /// The platform's form of an agent profile (a local avatar uploaded).
    fn agent_context(&self, call: &str, profile: &AgentProfile) -> HostResult<CharacterContext> {
        let avatar = self.wait(
            &format!("{call} avatar"),
            self.uploader.url_for(&profile.avatar),
        )?;
        Ok(CharacterContext {
            name: profile.name.clone(),
            avatar: Some(avatar),
            description: Some(profile.description.clone()),
        })
    }
}

impl HostApi for HostBridge {
    fn store(&self, channel_id: &str, name: &str) -> HostResult<Rc<dyn crate::script::KeyValue>> {
        let view = self.stores.view(channel_id, name)?;
        Ok(Rc::new(view))
    }

    fn member_ids(&self, channel_id: &str) -> HostResult<Vec<String>> {
        if !self.place.owns(channel_id) {
            // Another script thread's channel: its member table is there,
            // so ask the platform each time (a copy here would go stale).
            let service_id = self.service_id.borrow().clone();
            return self.wait(
                "member list",
                self.http.channel_members(channel_id, &service_id),
            );
        }
        if let Some(list) = self.members.borrow().get(channel_id) {
            return Ok(list.to_vec());
        }
        // A channel the host does not serve: ask the platform once.
        self.resync(channel_id)?;
        Ok(self
            .members
            .borrow()
            .get(channel_id)
            .map(<[String]>::to_vec)
            .unwrap_or_default())
    }

    fn send_characters(
        &self,
        channel_id: &str,
        characters: IdList,
        recipients: IdList,
    ) -> HostResult<()> {
        self.queue(Downward::Characters {
            channel_id: channel_id.to_string(),
            characters,
            recipients,
        })
    }

    fn send_update(&self, update: ViewUpdate) -> HostResult<()> {
        self.queue(Downward::Update(update))
    }

    fn update_channel_info(&self, channel_id: &str, info: Value) -> HostResult<()> {
        self.queue(Downward::ChannelInfo {
            channel_id: channel_id.to_string(),
            info,
        })
    }

    fn send_message(&self, message: OutgoingMessage) -> HostResult<()> {
        self.queue(Downward::Message(message))
    }

    fn check_file(&self, reference: &str) -> HostResult<Option<u64>> {
        if is_url(reference) {
            return Ok(None);
        }
        let path = self
            .uploader
            .local_path(reference)
            .map_err(|e| HostCallError::Refused(e.to_string()))?;
        let meta = std::fs::metadata(&path).map_err(|source| HostCallError::Io {
            what: reference.to_string(),
            source,
        })?;
        if !meta.is_file() {
            return Err(HostCallError::Refused(format!("{reference}: not a file")));
        }
        Ok(Some(meta.len()))
    }

    fn update_agent(&self, character_id: &str, profile: &AgentProfile) -> HostResult<Character> {
        let service_id = self.service_id.borrow().clone();
        let context = self.agent_context("update_agent", profile)?;
        self.wait(
            "update_agent",
            self.http.update_agent(&service_id, character_id, &context),
        )?;
        Ok(Character {
            character_id: character_id.to_string(),
            name: context.name,
            avatar: context.avatar,
            description: context.description,
        })
    }

    fn fetch_channel_list(&self) -> HostResult<Value> {
        self.wait("fetch_channel_list", self.http.channel_list())
    }

    fn create_channel(&self, name: &str, description: &str) -> HostResult<String> {
        let service_id = self.service_id.borrow().clone();
        let channel_id = self.wait(
            "create_channel",
            self.http.create_channel(name, description),
        )?;
        if !self.wait(
            "create_channel bind",
            self.http.bind(&channel_id, &service_id),
        )? {
            return Err(HostCallError::Refused(format!(
                "create_channel: channel {channel_id} was created but binding it was refused"
            )));
        }
        tracing::info!(%channel_id, name, "channel created and bound");
        Ok(channel_id)
    }

    fn fetch_message_history(&self, channel_id: &str, limit: i64) -> HostResult<Value> {
        self.wait(
            "fetch_message_history",
            self.http.message_history(channel_id, limit),
        )
    }

    fn download(&self, url: &str, save_as: Option<&str>) -> HostResult<Downloaded> {
        if !crate::script::is_http_url(url) {
            return Err(HostCallError::Refused(format!(
                "download: {url:?} is not an http(s) URL"
            )));
        }
        let fetching = self.callbacks.runner().download(url, MAX_DOWNLOAD)?;
        // The hold counts the bytes in the budget until this call returns.
        let (bytes, _hold) = self.wait("download", fetching)?;
        let Some(name) = save_as else {
            return Ok(Downloaded::Bytes(bytes));
        };
        let valid = !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\']);
        if !valid {
            return Err(HostCallError::Refused(format!(
                "download: {name:?} is not a plain file name"
            )));
        }
        let dir = self.download_dir()?;
        crate::fsutil::replace_file(&dir.join(name), &bytes, 0o644).map_err(|source| {
            HostCallError::Io {
                what: format!("download: {name}"),
                source,
            }
        })?;
        Ok(Downloaded::Saved(format!("{DOWNLOAD_DIR}/{name}")))
    }

    fn send_as_user(&self, frame: UserFrame) -> HostResult<()> {
        self.queue(Downward::User(frame))
    }

    fn start_timer(&self, timer: NewTimer) -> HostResult<u64> {
        self.callbacks.start_timer(timer)
    }

    fn cancel_timer(&self, id: u64) -> HostResult<bool> {
        Ok(self.callbacks.cancel_timer(id))
    }

    fn pending_timers(&self) -> HostResult<Vec<PendingTimer>> {
        Ok(self.callbacks.pending_timers())
    }

    fn timer_missed(&self) -> HostResult<u64> {
        Ok(self.callbacks.timer_missed())
    }

    fn start_request(&self, request: NewRequest) -> HostResult<u64> {
        self.callbacks.start_request(request)
    }

    fn create_agent(&self, profile: &AgentProfile) -> HostResult<Character> {
        let avatar = self
            .uploader
            .identity(&profile.avatar)
            .map_err(|e| HostCallError::Refused(format!("create_agent: avatar: {e}")))?;
        // Held for the whole call: every script thread runs the same
        // set-up, and the agent is created once for all of them.
        let mut book = self
            .shared
            .agents
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // In a cluster, every node too: the list is read again under the
        // cluster's lock, since another node may have made the agent.
        let _cluster = match &self.shared.agent_lock {
            Some(lock) => {
                let within = crate::script::remaining_budget()
                    .map_or(HOST_CALL, |(left, _)| left.min(HOST_CALL));
                let guard = lock.lock(within).map_err(|e| {
                    HostCallError::Refused(format!("create_agent: the cluster's agent lock: {e}"))
                })?;
                if guard.is_none() {
                    return Err(HostCallError::Refused(format!(
                        "create_agent: another cluster node held the agent lock for {within:?}"
                    )));
                }
                book.by_name = None;
                guard
            }
            None => None,
        };
        if profile.fresh {
            let nth = {
                let mut calls = self.fresh_agents.borrow_mut();
                let n = calls.entry(profile.name.clone()).or_insert(0);
                *n += 1;
                *n
            };
            if let Some(agent) = book.fresh_made(&profile.name, nth) {
                return Ok(agent);
            }
            let created = self.new_agent(profile)?;
            book.applied(&created, profile, avatar);
            book.remember_fresh(&profile.name, nth, created.clone());
            return Ok(created);
        }
        if let Some(existing) = self.existing_agent(&mut book, &profile.name)? {
            if book.unchanged(&existing, profile, &avatar) {
                tracing::info!(name = %profile.name, character_id = %existing.character_id, "agent reused");
                return Ok(existing);
            }
            let updated = self.update_agent(&existing.character_id, profile)?;
            tracing::info!(name = %profile.name, character_id = %existing.character_id, "agent reused and updated");
            book.applied(&updated, profile, avatar);
            return Ok(updated);
        }
        let created = self.new_agent(profile)?;
        book.applied(&created, profile, avatar);
        Ok(created)
    }

    fn fetch_agents(&self) -> HostResult<Vec<Character>> {
        let service_id = self.service_id.borrow().clone();
        let agents = self.wait("fetch_agents", self.http.service_agents(&service_id))?;
        Ok(agents.into_iter().map(character_of).collect())
    }

    fn fetch_profiles(&self, ids: Vec<String>) -> HostResult<Vec<Character>> {
        let found = self.wait("fetch_character_profile", self.http.fetch_profiles(&ids))?;
        Ok(found.into_iter().map(character_of).collect())
    }
}

impl HostBridge {
    /// This service's agent of that name (the list is read once).
    fn existing_agent(&self, book: &mut AgentBook, name: &str) -> HostResult<Option<Character>> {
        if book.by_name.is_none() {
            let agents = self.fetch_agents()?;
            book.learn(agents);
        }
        Ok(book.by_name.as_ref().and_then(|m| m.get(name).cloned()))
    }

    fn new_agent(&self, profile: &AgentProfile) -> HostResult<Character> {
        let service_id = self.service_id.borrow().clone();
        let context = self.agent_context("create_agent", profile)?;
        let created = self.wait(
            "create_agent",
            self.http.create_agent(&service_id, &context),
        )?;
        tracing::info!(name = %profile.name, character_id = %created.character_id, "agent created");
        Ok(character_of(created))
    }
}
