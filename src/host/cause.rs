//! Request ids derived from the event a handler runs for (a cluster).
//!
//! A partition's event may be handled twice (its owner died after handling
//! it and before acknowledging it); the platform ignores a repeated request
//! id, so the frames of the second run must carry the ids of the first.

use crate::host::outbox::Downward;

/// The upward entry a handler runs for, in a cluster: its frames' request
/// ids are `<partition>-<entry id>:<n>`, the same however many times (and
/// on whichever node) the handler runs for that entry, so the platform
/// sees a repeat as a repeat. Each frame also carries the partition and
/// the lease token, for the gateway's fencing.
#[derive(Debug, Clone)]
pub struct Cause {
    /// `None` for a takeover's check-in (no entry: fresh ids).
    base: Option<String>,
    fence: (usize, u64),
    sent: u32,
}

impl Cause {
    pub fn of(d: &crate::host::events::ClusterDelivery) -> Self {
        Cause {
            base: d.entry.as_ref().map(|id| format!("{}-{id}", d.partition)),
            fence: (d.partition, d.token),
            sent: 0,
        }
    }

    /// Wraps the next item the handler sends.
    pub(super) fn wrap(&mut self, item: Downward) -> Downward {
        let request_id = match &self.base {
            Some(base) => format!("{base}:{}", self.sent),
            None => uuid::Uuid::new_v4().to_string(),
        };
        self.sent += 1;
        Downward::Caused {
            request_id,
            fence: self.fence,
            item: Box::new(item),
        }
    }
}
