//! Request ids a service has already had delivered.
//!
//! A service that lost its connection re-sends what the platform did not
//! acknowledge, and an acknowledgement can be lost with the connection; the
//! request id makes such a repeat harmless: it is acknowledged again but not
//! delivered twice. Counted, so tests can prove nothing was delivered twice.

use super::State;
use std::collections::{HashSet, VecDeque};

/// Request ids remembered per service (the oldest are forgotten first).
const REMEMBERED: usize = 100_000;

#[derive(Debug, Default)]
pub struct SeenRequests {
    ids: HashSet<String>,
    order: VecDeque<String>,
}

impl State {
    /// True the first time `request_id` arrives from `service_id`.
    pub fn first_delivery(&mut self, service_id: &str, request_id: &str) -> bool {
        if request_id.is_empty() {
            return true;
        }
        let seen = self
            .seen_requests
            .entry(service_id.to_string())
            .or_default();
        if seen.ids.contains(request_id) {
            self.stats.duplicate_frames += 1;
            return false;
        }
        seen.ids.insert(request_id.to_string());
        seen.order.push_back(request_id.to_string());
        if seen.order.len() > REMEMBERED {
            if let Some(old) = seen.order.pop_front() {
                seen.ids.remove(&old);
            }
        }
        true
    }

    /// Every access token issued so far stops working (fault injection);
    /// refresh tokens and passwords still do.
    pub fn revoke_access_tokens(&mut self) {
        self.access_tokens.clear();
    }
}
