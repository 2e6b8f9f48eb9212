//! The link's states, named, and the rules that move between them.
//!
//! The WebSocket task (`ws.rs`) does the I/O; this module decides what comes
//! next. Keeping the decisions free of I/O makes every transition testable
//! on its own, and the current state is published through a `watch` channel
//! so the host, the dev page and the logs can show it.
//!
//! ```text
//!             connect fails                      shutdown (from any state)
//!   Connecting ──────────────▶ Backoff ──┐            ▶ Stopped
//!      ▲  │ connected            ▲       │ waited
//!      │  ▼                      │       ▼
//!      │ LoggingIn ──dropped─────┤   Connecting
//!      │  │ a frame heard        │
//!      │  ▼                      │
//!      │ Live ────dropped────────┘
//!      │  │ token or login refused (LoggingIn too)
//!      │  ▼
//!      └ ReAuthenticating (signs in again, spaced out)
//! ```

use crate::retry::Backoff;
use std::time::{Duration, Instant};

/// Where the link is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    /// Opening the WebSocket; `attempt` counts from 1 since the last success.
    Connecting { attempt: u32 },
    /// Connected, the login frame sent, nothing heard back yet.
    LoggingIn,
    /// Logged in: frames flow both ways.
    Live,
    /// Waiting before the next attempt, after `reason`.
    Backoff { retry_in: Duration, reason: String },
    /// The platform refused the token or the login: signing in again (after
    /// `delay`), then reconnecting with the new token.
    ReAuthenticating { delay: Duration },
    /// Shut down; nothing more happens.
    Stopped,
}

impl LinkState {
    /// Every state's [`name`](Self::name).
    pub const NAMES: &'static [&'static str] = &[
        "connecting",
        "logging_in",
        "live",
        "backoff",
        "reauthenticating",
        "stopped",
    ];

    /// A short name for logs and status pages.
    pub fn name(&self) -> &'static str {
        match self {
            LinkState::Connecting { .. } => "connecting",
            LinkState::LoggingIn => "logging_in",
            LinkState::Live => "live",
            LinkState::Backoff { .. } => "backoff",
            LinkState::ReAuthenticating { .. } => "reauthenticating",
            LinkState::Stopped => "stopped",
        }
    }
}

/// What happened, as the link's task saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkInput {
    /// The WebSocket opened and the login frame was written.
    Connected,
    /// Opening the WebSocket failed or timed out.
    ConnectFailed(String),
    /// A frame arrived that is not a refusal.
    Heard,
    /// The platform refused the token (`copy` with `status: false`) or the
    /// login (`error` about a login).
    Refused(String),
    /// The connection ended (closed, silent, or an error), with why.
    Dropped(String),
    /// The back-off delay passed.
    Waited,
    /// Signing in again finished (well or not: the link reconnects either
    /// way, with whatever token it has).
    SignedIn,
    /// The host is stopping.
    Shutdown,
}

/// Re-authentications closer together than this are spaced out with a
/// growing delay ([`Backoff::REAUTH`]: the SDK re-logs in a tight loop on
/// refusals).
pub const REAUTH_MIN_GAP: Duration = Duration::from_secs(5);

/// The state and what the next transitions need to remember.
#[derive(Debug)]
pub struct LinkMachine {
    state: LinkState,
    /// The waits between failed attempts ([`Backoff::reconnect`]); the
    /// machine takes them without jitter (the link's task adds it, so the
    /// machine stays deterministic).
    backoff: Backoff,
    /// Failed attempts since the link was last live.
    failures: u32,
    last_reauth: Option<Instant>,
    reauth: Backoff,
}

impl LinkMachine {
    pub fn new(backoff_min: Duration, backoff_max: Duration) -> Self {
        LinkMachine {
            state: LinkState::Connecting { attempt: 1 },
            backoff: Backoff::reconnect(backoff_min, backoff_max),
            failures: 0,
            last_reauth: None,
            reauth: Backoff::REAUTH,
        }
    }

    /// The reconnection policy (the link's task takes its jitter).
    pub fn backoff(&self) -> &Backoff {
        &self.backoff
    }

    pub fn state(&self) -> &LinkState {
        &self.state
    }

    /// Applies `input` at time `now` and returns the new state. An input that
    /// does not apply to the current state leaves it as it is.
    pub fn step(&mut self, input: LinkInput, now: Instant) -> &LinkState {
        use LinkInput as I;
        use LinkState as S;
        let next = match (&self.state, input) {
            (S::Stopped, _) => return &self.state,
            (_, I::Shutdown) => S::Stopped,
            (S::Connecting { .. }, I::Connected) => S::LoggingIn,
            (
                S::Connecting { .. } | S::LoggingIn,
                I::ConnectFailed(reason) | I::Dropped(reason),
            ) => self.failed(reason),
            (S::LoggingIn, I::Heard) => {
                self.failures = 0;
                self.backoff.reset();
                S::Live
            }
            (S::Live, I::Dropped(reason)) => S::Backoff {
                retry_in: self.backoff.min(),
                reason,
            },
            (S::LoggingIn | S::Live, I::Refused(_)) => self.reauthenticate(now),
            (S::Backoff { .. }, I::Waited) | (S::ReAuthenticating { .. }, I::SignedIn) => {
                S::Connecting {
                    attempt: self.failures + 1,
                }
            }
            _ => return &self.state,
        };
        self.state = next;
        &self.state
    }

    /// An attempt failed: wait, longer each time (capped).
    fn failed(&mut self, reason: String) -> LinkState {
        self.failures = self.failures.saturating_add(1);
        let retry_in = self.backoff.step();
        LinkState::Backoff { retry_in, reason }
    }

    /// At once the first time; refusals in a row are spaced out.
    fn reauthenticate(&mut self, now: Instant) -> LinkState {
        let recent = self
            .last_reauth
            .is_some_and(|t| now.saturating_duration_since(t) < REAUTH_MIN_GAP);
        let delay = if recent {
            self.reauth.step()
        } else {
            self.reauth.reset();
            Duration::ZERO
        };
        self.last_reauth = Some(now);
        LinkState::ReAuthenticating { delay }
    }
}

#[cfg(test)]
#[path = "link_state_tests.rs"]
mod tests;
