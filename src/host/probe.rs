//! What an operator may ask a running host: is it alive, is it ready, what
//! is it doing, and `on_spell(value)`. The admin endpoint (`src/admin/`)
//! serves these over HTTP; this is the host's side, which knows nothing of
//! HTTP.

use crate::host::events::{HostEvent, Inspection};
use crate::host::threads::shards::ScriptSlot;
use crate::host::ScriptStatus;
use crate::platform::LinkState;
use serde::Serialize;
use std::time::Duration;
use tokio::sync::{oneshot, watch};

/// A cheap, cloneable view of a running host.
#[derive(Clone)]
pub struct HostProbe {
    pub(super) script: ScriptSlot,
    pub(super) status: watch::Receiver<ScriptStatus>,
    pub(super) link: watch::Receiver<LinkState>,
    pub(super) started: watch::Receiver<bool>,
}

/// Whether the service can serve, and why not (`/readyz`).
#[derive(Debug, Clone, Serialize)]
pub struct Readiness {
    pub ready: bool,
    /// The connection's state (`live`, `backoff`...).
    pub link: &'static str,
    /// Connected and logged in.
    pub logged_in: bool,
    /// The channels are bound and initialised.
    pub channels_bound: bool,
    /// A version of the script is loaded.
    pub script_loaded: bool,
}

/// Why a spell has no answer.
#[derive(Debug, thiserror::Error)]
pub enum SpellError {
    #[error("{0}")]
    Script(String),
    #[error("the script thread did not answer within {0:?}")]
    NoAnswer(Duration),
    /// The spell lane is full (see `threads/intake.rs`): try again later.
    #[error("{0}")]
    Busy(crate::host::threads::intake::Refused),
    #[error("the service is not running")]
    Gone,
}

impl HostProbe {
    /// The script thread's view, if it answers within `within` (it answers
    /// between two events, so a long handler delays it).
    pub async fn inspect(&self, within: Duration) -> Option<Inspection> {
        let tx = self.script.get()?;
        let (reply, rx) = oneshot::channel();
        tx.send(HostEvent::Inspect(reply)).ok()?;
        tokio::time::timeout(within, rx).await.ok()?.ok()
    }

    pub fn readiness(&self) -> Readiness {
        let link = self.link.borrow().name();
        let logged_in = *self.link.borrow() == LinkState::Live;
        let channels_bound = *self.started.borrow();
        let (script_loaded, cluster) = {
            let st = self.status.borrow();
            (st.version > 0, st.cluster.clone())
        };
        // A cluster node serves through whichever node is the gateway:
        // it is ready once some node is, and Redis answers.
        let connected = match &cluster {
            Some(c) => c.error.is_none() && c.gateway_holder.is_some(),
            None => logged_in,
        };
        Readiness {
            ready: connected && channels_bound && script_loaded,
            link,
            logged_in,
            channels_bound,
            script_loaded,
        }
    }

    /// The script threads' deploy API (`reload/stage.rs`), once they run.
    pub fn versions(&self) -> Option<crate::host::Versions> {
        self.script.get().map(|tx| tx.versions())
    }

    pub fn status(&self) -> ScriptStatus {
        self.status.borrow().clone()
    }

    /// Hands `value` to `on_spell` between two events and waits at most
    /// `within` for its return value (a spell not started by then never
    /// runs).
    pub async fn spell(
        &self,
        value: serde_json::Value,
        within: Duration,
    ) -> Result<serde_json::Value, SpellError> {
        let tx = self.script.get().ok_or(SpellError::Gone)?;
        let (reply, rx) = oneshot::channel();
        tx.spell(value, reply).map_err(|e| match e {
            crate::host::threads::intake::Refused::Closed => SpellError::Gone,
            // Timer firings never go this way: a spell is refused only
            // when the spells are full.
            full @ (crate::host::threads::intake::Refused::SpellsFull
            | crate::host::threads::intake::Refused::TimersFull) => SpellError::Busy(full),
        })?;
        // On a timeout `rx` is dropped here, before the caller is answered,
        // so the script thread drops the spell instead of running it late.
        match tokio::time::timeout(within, rx).await {
            Ok(Ok(answer)) => answer.map_err(SpellError::Script),
            Ok(Err(_)) => Err(SpellError::Gone),
            Err(_) => Err(SpellError::NoAnswer(within)),
        }
    }
}
