//! The link's memory of frames not yet known to be delivered.
//!
//! Frames wait here while the platform is unreachable, and stay (as "in
//! flight") after being written until the platform acknowledges them with a
//! `copy`, so a connection that drops loses nothing: after the reconnect they
//! are sent again, in order. Request ids make a repeat harmless for a
//! platform that de-duplicates them.
//!
//! The queue is bounded. When it is full, a view update is dropped first if a
//! newer update for the same channel, kind and recipients is queued behind it
//! (only the newest view matters); only then is the oldest frame dropped.
//! Drops are counted so the link can log them.

use std::collections::VecDeque;

/// One frame for the platform.
#[derive(Debug, Clone, PartialEq)]
pub struct OutFrame {
    pub text: String,
    /// The frame's `request_id` (acknowledged by `copy` frames).
    pub request_id: String,
    /// Frames with the same key replace each other's effect (view updates:
    /// channel + kind + recipients); `None` for messages, which never do.
    pub coalesce_key: Option<String>,
}

#[derive(Debug)]
pub struct FrameQueue {
    frames: VecDeque<OutFrame>,
    limit: usize,
    pub coalesced: u64,
    pub dropped: u64,
}

impl FrameQueue {
    pub fn new(limit: usize) -> Self {
        FrameQueue {
            frames: VecDeque::new(),
            limit: limit.max(1),
            coalesced: 0,
            dropped: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    pub fn push(&mut self, frame: OutFrame) {
        self.frames.push_back(frame);
        while self.frames.len() > self.limit {
            self.make_room();
        }
    }

    /// Puts frames back at the front, keeping their order (after a failed write).
    pub fn requeue_front(&mut self, frames: impl DoubleEndedIterator<Item = OutFrame>) {
        for f in frames.rev() {
            self.frames.push_front(f);
        }
        while self.frames.len() > self.limit {
            self.make_room();
        }
    }

    fn make_room(&mut self) {
        let superseded = self.frames.iter().enumerate().find_map(|(i, f)| {
            let key = f.coalesce_key.as_ref()?;
            self.frames
                .iter()
                .skip(i + 1)
                .any(|later| later.coalesce_key.as_ref() == Some(key))
                .then_some(i)
        });
        match superseded {
            Some(i) => {
                self.frames.remove(i);
                self.coalesced += 1;
            }
            None => {
                self.frames.pop_front();
                self.dropped += 1;
            }
        }
    }

    pub fn pop_front(&mut self) -> Option<OutFrame> {
        self.frames.pop_front()
    }

    /// Removes the frame with this request id (acknowledged); true if found.
    pub fn ack(&mut self, request_id: &str) -> bool {
        match self.frames.iter().position(|f| f.request_id == request_id) {
            Some(i) => {
                self.frames.remove(i);
                true
            }
            None => false,
        }
    }

    pub fn drain(&mut self) -> impl DoubleEndedIterator<Item = OutFrame> + '_ {
        self.frames.drain(..)
    }

    pub fn clear(&mut self) {
        self.frames.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(id: &str, key: Option<&str>) -> OutFrame {
        OutFrame {
            text: id.into(),
            request_id: id.into(),
            coalesce_key: key.map(str::to_string),
        }
    }

    fn ids(q: &FrameQueue) -> Vec<&str> {
        q.frames.iter().map(|f| f.request_id.as_str()).collect()
    }

    #[test]
    fn full_queue_coalesces_superseded_views_before_dropping() {
        let mut q = FrameQueue::new(3);
        q.push(f("v1", Some("alice")));
        q.push(f("m1", None));
        q.push(f("v2", Some("bob")));
        q.push(f("v3", Some("alice")));
        assert_eq!(ids(&q), ["m1", "v2", "v3"], "v1 was superseded by v3");
        assert_eq!((q.coalesced, q.dropped), (1, 0));
        q.push(f("m2", None));
        assert_eq!(
            ids(&q),
            ["v2", "v3", "m2"],
            "nothing superseded: the oldest goes"
        );
        assert_eq!((q.coalesced, q.dropped), (1, 1));
    }

    #[test]
    fn acks_and_requeue_keep_order() {
        let mut q = FrameQueue::new(10);
        for id in ["a", "b", "c"] {
            q.push(f(id, None));
        }
        assert!(q.ack("b"));
        assert!(!q.ack("zz"));
        let taken: Vec<OutFrame> = q.drain().collect();
        q.push(f("d", None));
        q.requeue_front(taken.into_iter());
        assert_eq!(ids(&q), ["a", "c", "d"]);
    }
}
