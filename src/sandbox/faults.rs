//! Fault injection: breaking the platform on purpose, so that tests (and
//! authors) can see what a service does when the network drops, tokens
//! expire, answers are slow or fail, or a connection goes silent.
//!
//! `POST /sandbox/faults` with any of
//! `{"drop_connections": true}` (close every WebSocket now),
//! `{"reject_tokens": true}` (every access token issued so far stops working),
//! `{"delay_ms": N}` (every platform HTTP answer and every WebSocket frame
//! waits N ms), `{"http_error_rate": 0.2}` (that share of platform HTTP calls
//! fails with an error envelope), `{"pause_ws": true}` (the connections open
//! now go silent both ways, like a half-open TCP connection; new ones work).
//! The one-shot faults are counted; the lasting ones stay until set back.

use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use std::time::Duration;

/// What a fault request asks for; absent fields change nothing.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRequest {
    #[serde(default)]
    pub drop_connections: bool,
    #[serde(default)]
    pub reject_tokens: bool,
    pub delay_ms: Option<u64>,
    pub http_error_rate: Option<f64>,
    pub pause_ws: Option<bool>,
}

/// The faults in force, and how many one-shot faults were injected.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct FaultState {
    pub delay_ms: u64,
    pub http_error_rate: f64,
    pub pause_ws: bool,
    pub connections_dropped: u64,
    pub token_rejections: u64,
}

#[derive(Debug, Default)]
pub struct Faults {
    state: Mutex<FaultState>,
}

impl Faults {
    pub fn snapshot(&self) -> FaultState {
        self.state.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub fn update(&self, f: impl FnOnce(&mut FaultState)) -> FaultState {
        match self.state.lock() {
            Ok(mut s) => {
                f(&mut s);
                s.clone()
            }
            Err(_) => FaultState::default(),
        }
    }

    pub fn delay(&self) -> Option<Duration> {
        let ms = self.snapshot().delay_ms;
        (ms > 0).then(|| Duration::from_millis(ms))
    }

    /// Whether this platform HTTP call should fail.
    pub fn fail_http(&self) -> bool {
        let rate = self.snapshot().http_error_rate;
        rate > 0.0 && rand::random::<f64>() < rate
    }
}

impl FaultRequest {
    /// Checks values before anything is applied; the error is the line the
    /// control API answers with (400).
    pub fn validate(&self) -> Result<(), String> {
        if let Some(rate) = self.http_error_rate {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!(
                    "http_error_rate must be between 0 and 1, got {rate}"
                ));
            }
        }
        if self.delay_ms.is_some_and(|ms| ms > 60_000) {
            return Err("delay_ms must be at most 60000".into());
        }
        Ok(())
    }
}
