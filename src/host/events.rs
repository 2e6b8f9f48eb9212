//! The messages that travel to the script thread: platform events for
//! handlers, the lifecycle steps, and reload requests.
//!
//! They have a file of their own because every side of the host speaks them
//! (dispatch, the lifecycle, the reload watchers, test progress) while only
//! the script thread acts on them; keeping them here is what keeps `src/host`
//! free of import cycles.

use crate::protocol::{Inbound, MessageUp};
use crate::script::HttpResponse;
use std::path::PathBuf;
use tokio::sync::oneshot;

/// What `on_spell(value)` answered: its return value as JSON, or the line
/// saying why there is none, shown as it is to whoever cast the spell.
pub type SpellAnswer = Result<serde_json::Value, crate::Reason>;

/// One thing for the script thread to do. Taken in arrival order within
/// its lane of the intake (`threads/intake.rs`): timer firings and spells take
/// turns with the rest.
#[derive(Debug)]
pub enum HostEvent {
    BeforeChannelInit {
        service_id: String,
    },
    ChannelInit(String),
    Checkin(String),
    Start,
    Inbound(Inbound),
    /// A `message_up` with its recipients expanded into ids.
    Message {
        message: MessageUp,
        recipients: Vec<String>,
    },
    /// A timer is due (see `callbacks/timers.rs`).
    Timer(u64),
    /// A script's request ended (see `callbacks/requests.rs`).
    Response {
        id: u64,
        response: HttpResponse,
        /// The request budget its body holds until the callback was called.
        hold: crate::host::callbacks::response_body::BodyHold,
    },
    Reload(ReloadRequest),
    /// One step of a deploy on this thread (see `reload/versions.rs`).
    Deploy(DeployStep),
    /// The operator's value for `on_spell(value)`; the reply carries the
    /// handler's return value or its error.
    Spell {
        value: serde_json::Value,
        reply: oneshot::Sender<SpellAnswer>,
    },
    /// A look at the script thread's state (it answers between events).
    Inspect(oneshot::Sender<Inspection>),
    /// One of several script threads' copy of a service-wide step (see
    /// `threads/shards.rs`): it counts as handled once, when the last thread
    /// (`countdown` reaching 0) handled its copy.
    Shared {
        event: Box<HostEvent>,
        countdown: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    },
    /// A partition's event in a cluster (see `src/cluster/`): handled only
    /// while this node still holds the partition under the same token,
    /// its frames' request ids derived from the stream entry, and reported
    /// done once those frames were handed on.
    Clustered {
        event: Box<HostEvent>,
        delivery: ClusterDelivery,
    },
    Shutdown,
}

/// Where a clustered event came from, and whom to tell it is done.
pub struct ClusterDelivery {
    pub partition: usize,
    /// The partition lease's token the event was read under.
    pub token: u64,
    /// The `up:<p>` entry's id; `None` for a takeover's check-in, which
    /// has no entry.
    pub entry: Option<String>,
    /// Closed once an event of this take-over was dropped (see `Gate`).
    pub gate: crate::cluster::consumer::Gate,
    pub fences: std::sync::Arc<crate::cluster::roles::Fences>,
    pub done: crate::cluster::consumer::Done,
}

impl std::fmt::Debug for ClusterDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterDelivery")
            .field("partition", &self.partition)
            .field("token", &self.token)
            .field("entry", &self.entry)
            .finish()
    }
}

impl ClusterDelivery {
    /// True while this node may still act for the partition; once
    /// false, false for every later event of the same take-over.
    pub fn valid(&self) -> bool {
        if self.gate.is_closed() {
            return false;
        }
        let valid = self.fences.partition_valid(self.partition, self.token);
        if !valid {
            self.gate.close();
        }
        valid
    }

    /// The event is finished: `handled` false when it was dropped because
    /// the partition moved on (the next owner handles it).
    pub fn finish(&self, handled: bool) {
        if let Some(id) = &self.entry {
            self.done.report(self.partition, id.clone(), handled);
        }
    }
}

impl HostEvent {
    /// The channel whose events this is, for routing to a script thread.
    pub fn channel_id(&self) -> Option<&str> {
        match self {
            HostEvent::ChannelInit(ch) | HostEvent::Checkin(ch) => Some(ch),
            HostEvent::Inbound(i) => i.channel_id(),
            HostEvent::Message { message, .. } => Some(&message.channel_id),
            HostEvent::Clustered { event, .. } => event.channel_id(),
            _ => None,
        }
    }

    /// A spell, or one script thread's copy of a spell sent to all of them:
    /// either waits in the spells' lane (`intake.rs`).
    pub fn is_spell(&self) -> bool {
        match self {
            HostEvent::Spell { .. } => true,
            HostEvent::Shared { event, .. } => event.is_spell(),
            _ => false,
        }
    }
}

/// What the script thread reports when inspected.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Inspection {
    /// Channel id -> members, from the member table.
    pub members: std::collections::BTreeMap<String, usize>,
    pub timers_pending: usize,
}

#[derive(Debug)]
pub struct ReloadRequest {
    /// What triggered it (for the log); empty for SIGHUP.
    pub changed: Vec<PathBuf>,
    /// Log and publish a failure (false for a first, tentative attempt).
    pub report_failure: bool,
    pub reply: Option<oneshot::Sender<crate::host::reload::round::ReloadOutcome>>,
    /// Compile from here instead (and keep it on success); `None` recompiles
    /// the current files.
    pub source: Option<NewSource>,
    /// The round every script thread votes in (set by the `EventSender`).
    pub round: Option<std::sync::Arc<crate::host::reload::round::ReloadRound>>,
    /// The new version, compiled off the script threads, one copy per
    /// thread (see `reload/compile.rs`; the `EventSender` fills it and gives
    /// each thread its own).
    pub compiled: Vec<Precompiled>,
}

/// One step of a deploy, for one script thread; `reply` gets `Ok` or the
/// framed reason it could not (see `reload/stage.rs` for the protocol).
#[derive(Debug)]
pub struct DeployStep {
    pub action: DeployAction,
    pub reply: oneshot::Sender<Result<(), String>>,
}

/// Keeps a version's files alive (an unpacked bundle's private directory)
/// for as long as some thread runs or keeps that version.
pub type KeepAlive = std::sync::Arc<dyn std::any::Any + Send + Sync>;

#[derive(Debug)]
pub enum DeployAction {
    /// Build this thread's engine around its copy of the new version and
    /// dry-run its `on_reload` on a copy of `this`; keep it, unswapped.
    Prepare {
        compiled: Precompiled,
        source: NewSource,
        tag: crate::deploy::VersionTag,
        keep: Option<KeepAlive>,
    },
    /// Swap to the prepared version, keeping the running one as previous;
    /// every thread of the round swaps or none does.
    Commit(std::sync::Arc<crate::host::reload::round::ReloadRound>),
    /// Swap back to the kept previous version (same round rule).
    Revert(std::sync::Arc<crate::host::reload::round::ReloadRound>),
    /// Drop the kept previous version (the deploy is over).
    Finish,
    /// Drop the prepared version (the deploy will not commit it).
    Discard,
}

/// One script thread's copy of the next version, as its compile left it.
#[derive(Debug)]
pub enum Precompiled {
    Ready(crate::script::compile::Shipped),
    /// The entry file is empty: a truncate-then-write save, halfway.
    EntryEmpty,
    /// The framed diagnostic.
    Failed(String),
}

/// Where the next version lives, when it is not where the current one does.
/// Everything else about compiling (limits, ...) stays as it is.
#[derive(Debug, Clone)]
pub struct NewSource {
    /// The entry script.
    pub main: PathBuf,
    /// The service directory: relative resource paths
    /// (`resources/avatar.png`) resolve here, and diagnostics are shown
    /// relative to it.
    pub base_dir: PathBuf,
}
