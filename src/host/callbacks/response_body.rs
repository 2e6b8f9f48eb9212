//! Reading the body of a script's request or download, within two bounds.
//!
//! Each body is cut at its own cap (`request_max_bytes`, never above the
//! script's `max_string_size`; the download limit for `download`), and all
//! bodies held at once share one budget (`request_budget_bytes`): without
//! it a thousand requests in flight could each buffer their cap. A body is
//! read chunk by chunk and its buffer grows only once the budget has room
//! for the growth, so memory follows the budget however fast, large or
//! endless the answers are. The budget is held until the body is dropped:
//! for a request (its headers too), once its callback has been called on
//! the script thread, or at once when it timed out; for a download, once
//! the script has its bytes (or they are written to a file).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// What the HTTP client buffers for one connection at most while a body
/// streams in fast: hyper's largest read buffer (8 KiB + 100 x 4 KiB),
/// twice, as the buffer may double when it makes room. Not in the body's
/// buffer, yet memory all the same (measured: without it 200 endless
/// bodies took 1.5 times the budget), so a large body holds it from the
/// budget while it is read.
const TRANSPORT_BUFFER: u64 = 2 * (8 * 1024 + 100 * 4 * 1024);
/// A body past this size counts [`TRANSPORT_BUFFER`] while read: the
/// client's buffer grows only for bodies that keep filling it, and small
/// answers, the common case, should not be charged for it.
const LARGE_BODY: u64 = 16 * 1024;

/// The bytes all bodies may hold at once (`request_budget_bytes`).
#[derive(Debug, Clone)]
pub struct Budget {
    held: Arc<AtomicU64>,
    limit: u64,
}

/// Why a body was not read whole.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("response body over {cap} bytes ({why})")]
    OverCap { cap: u64, why: &'static str },
    #[error("response bodies in flight over {limit} bytes (service_config.request_budget_bytes)")]
    OverBudget { limit: u64 },
    #[error("{0}")]
    Transport(reqwest::Error),
}

/// The budget one body holds, given back when dropped.
#[derive(Debug)]
pub struct BodyHold {
    budget: Budget,
    bytes: u64,
}

impl Budget {
    pub fn new(limit: u64) -> Self {
        Budget {
            held: Arc::new(AtomicU64::new(0)),
            limit,
        }
    }

    /// The bytes all holds take now.
    #[cfg(test)]
    pub fn held(&self) -> u64 {
        self.held.load(Ordering::SeqCst)
    }

    /// A hold of nothing yet, for one body.
    pub fn hold(&self) -> BodyHold {
        BodyHold {
            budget: self.clone(),
            bytes: 0,
        }
    }
}

impl BodyHold {
    /// Takes `more` bytes of the budget, or none when it has not that room.
    pub fn grow(&mut self, more: u64) -> Result<(), BodyError> {
        let limit = self.budget.limit;
        self.budget
            .held
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |held| {
                held.checked_add(more).filter(|total| *total <= limit)
            })
            .map_err(|_| BodyError::OverBudget { limit })?;
        self.bytes += more;
        Ok(())
    }

    /// Gives back all it holds (the body was dropped).
    pub fn release(&mut self) {
        self.shrink(self.bytes);
    }

    /// Gives back all it holds beyond `bytes` (what still lives on).
    pub fn keep_only(&mut self, bytes: u64) {
        self.shrink(self.bytes.saturating_sub(bytes));
    }

    /// Gives back `less` bytes taken by [`BodyHold::grow`].
    fn shrink(&mut self, less: u64) {
        let less = less.min(self.bytes);
        self.budget.held.fetch_sub(less, Ordering::SeqCst);
        self.bytes -= less;
    }
}

impl Drop for BodyHold {
    fn drop(&mut self) {
        self.budget.held.fetch_sub(self.bytes, Ordering::SeqCst);
    }
}

/// The piece a body is read into: all of one size, so that the pieces one
/// body gave back are what the next one takes and the heap does not grow
/// with the variety of body sizes.
const PIECE: usize = 64 * 1024;

/// Reads `resp`'s body, at most `cap` bytes (`why` names the cap's
/// setting), its buffers counted in `hold`.
pub async fn read_body(
    resp: &mut reqwest::Response,
    cap: u64,
    why: &'static str,
    hold: &mut BodyHold,
) -> Result<Vec<u8>, BodyError> {
    let over = || BodyError::OverCap { cap, why };
    if resp.content_length().is_some_and(|n| n > cap) {
        return Err(over());
    }
    let mut pieces: Vec<Vec<u8>> = Vec::new();
    let mut len = 0u64;
    let mut transport = 0;
    while let Some(chunk) = resp.chunk().await.map_err(BodyError::Transport)? {
        len += chunk.len() as u64;
        if len > cap {
            return Err(over());
        }
        if len > LARGE_BODY && transport == 0 {
            transport = TRANSPORT_BUFFER;
            hold.grow(transport)?;
        }
        let mut rest = &chunk[..];
        while !rest.is_empty() {
            if pieces.last().is_none_or(|p| p.len() == PIECE) {
                hold.grow(PIECE as u64)?;
                pieces.push(Vec::with_capacity(PIECE));
            }
            let Some(piece) = pieces.last_mut() else {
                break;
            };
            let n = rest.len().min(PIECE - piece.len());
            piece.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
        }
    }
    hold.shrink(transport);
    joined(pieces, len, hold)
}

/// The pieces as one buffer of the body's size (it may wait a while for
/// its callback, and most bodies are far smaller than a piece); it is
/// counted before the pieces are given back.
fn joined(mut pieces: Vec<Vec<u8>>, len: u64, hold: &mut BodyHold) -> Result<Vec<u8>, BodyError> {
    if pieces.len() <= 1 {
        let mut body = pieces.pop().unwrap_or_default();
        let before = body.capacity();
        body.shrink_to_fit();
        hold.shrink((before - body.capacity()) as u64);
        return Ok(body);
    }
    hold.grow(len)?;
    let mut body = Vec::with_capacity(usize::try_from(len).unwrap_or(usize::MAX));
    for piece in &pieces {
        body.extend_from_slice(piece);
    }
    hold.shrink((pieces.len() * PIECE) as u64);
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_joined_body_holds_its_own_size() {
        let budget = Budget::new(1 << 20);
        let mut hold = budget.hold();
        hold.grow(PIECE as u64).unwrap();
        let mut small = Vec::with_capacity(PIECE);
        small.extend_from_slice(b"hello");
        let body = joined(vec![small], 5, &mut hold).unwrap();
        assert_eq!(body, b"hello");
        assert_eq!(hold.bytes, body.capacity() as u64);
        let mut big = budget.hold();
        big.grow(2 * PIECE as u64).unwrap();
        let pieces = vec![vec![1u8; PIECE], vec![2u8; 10]];
        let body = joined(pieces, PIECE as u64 + 10, &mut big).unwrap();
        assert_eq!(body.len(), PIECE + 10);
        assert_eq!(big.bytes, PIECE as u64 + 10);
    }

    #[test]
    fn holds_share_the_budget_and_give_it_back() {
        let budget = Budget::new(100);
        let mut a = budget.hold();
        let mut b = budget.hold();
        assert!(a.grow(60).is_ok());
        assert!(matches!(
            b.grow(41),
            Err(BodyError::OverBudget { limit: 100 })
        ));
        assert!(b.grow(40).is_ok());
        drop(a);
        assert!(budget.hold().grow(60).is_ok());
        assert_eq!(budget.held.load(Ordering::SeqCst), 40);
    }
}
