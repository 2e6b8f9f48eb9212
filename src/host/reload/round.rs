//! One reload across every script thread: all threads swap to the new
//! version, or none does.
//!
//! Each thread gets its own copy of the new version, compiled off the
//! script threads (`compile.rs`; a compiled Rhai script reaches one
//! thread only), builds its engine around it, then votes and waits until
//! every thread voted.
//! Since no thread handles an event between its vote and the decision, and
//! each swaps right after it, no event is ever handled by the old version
//! after another was handled by the new one. A thread whose compile failed,
//! or that compiled different files (they changed in between: the watcher
//! sends another reload for that change), keeps every thread on the old
//! version.
//!
//! With one thread the round decides at once, from that thread's vote.

use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Duration;

/// How a reload ended, as its requester hears it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadOutcome {
    Reloaded,
    /// Same contents as the running version: nothing to do.
    Unchanged,
    /// The entry file is empty, which is what a truncate-then-write save
    /// looks like halfway: wait for the content.
    EntryEmpty,
    Failed,
}

/// What one thread found when it compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Vote {
    /// Compiled; `hash` identifies the version (its files' contents).
    Ready {
        hash: [u8; 32],
    },
    Unchanged,
    EntryEmpty,
    /// The framed diagnostic.
    Failed(String),
}

/// What every thread does after the round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Swap,
    /// Keep the running version; `error` is why, when it is an error.
    Keep {
        outcome: ReloadOutcome,
        error: Option<String>,
    },
}

#[derive(Debug, Default)]
struct State {
    votes: Vec<Vote>,
    decision: Option<Decision>,
}

#[derive(Debug)]
pub struct ReloadRound {
    threads: usize,
    state: Mutex<State>,
    all_voted: Condvar,
}

impl ReloadRound {
    pub fn new(threads: usize) -> Self {
        ReloadRound {
            threads: threads.max(1),
            state: Mutex::new(State::default()),
            all_voted: Condvar::new(),
        }
    }

    /// Casts this thread's vote and waits for the decision (at most
    /// `timeout`, then the old version stays).
    pub fn vote(&self, vote: Vote, timeout: Duration) -> Decision {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.votes.push(vote);
        if state.votes.len() >= self.threads && state.decision.is_none() {
            state.decision = Some(decide(&state.votes));
            self.all_voted.notify_all();
        }
        let (mut state, _) = self
            .all_voted
            .wait_timeout_while(state, timeout, |s| s.decision.is_none())
            .unwrap_or_else(PoisonError::into_inner);
        state
            .decision
            .get_or_insert_with(|| Decision::Keep {
                outcome: ReloadOutcome::Failed,
                error: Some(format!(
                    "not every script thread was ready to reload within {timeout:?}; the previous version keeps running"
                )),
            })
            .clone()
    }
}

fn decide(votes: &[Vote]) -> Decision {
    let keep = |outcome, error| Decision::Keep { outcome, error };
    if let Some(Vote::Failed(e)) = votes.iter().find(|v| matches!(v, Vote::Failed(_))) {
        return keep(ReloadOutcome::Failed, Some(e.clone()));
    }
    if votes.contains(&Vote::EntryEmpty) {
        return keep(ReloadOutcome::EntryEmpty, None);
    }
    let hashes: Vec<&[u8; 32]> = votes
        .iter()
        .filter_map(|v| match v {
            Vote::Ready { hash } => Some(hash),
            _ => None,
        })
        .collect();
    match hashes.first() {
        None => keep(ReloadOutcome::Unchanged, None),
        // Some thread had nothing new, or threads compiled different files:
        // the files changed during the round, and their change brings
        // another reload.
        Some(first) if hashes.len() < votes.len() || hashes.iter().any(|h| h != first) => {
            keep(ReloadOutcome::Unchanged, None)
        }
        Some(_) => Decision::Swap,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const T: Duration = Duration::from_secs(5);

    fn ready(b: u8) -> Vote {
        Vote::Ready { hash: [b; 32] }
    }

    fn round(votes: Vec<Vote>) -> Vec<Decision> {
        let round = Arc::new(ReloadRound::new(votes.len()));
        let threads: Vec<_> = votes
            .into_iter()
            .map(|v| {
                let r = round.clone();
                std::thread::spawn(move || r.vote(v, T))
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    }

    #[test]
    fn every_thread_gets_the_same_decision() {
        assert_eq!(
            round(vec![ready(1), ready(1), ready(1)]),
            vec![Decision::Swap; 3]
        );
        let failed = round(vec![
            ready(1),
            Vote::Failed("x.rhai:1:1: oops".into()),
            ready(1),
        ]);
        let keep = Decision::Keep {
            outcome: ReloadOutcome::Failed,
            error: Some("x.rhai:1:1: oops".into()),
        };
        assert_eq!(failed, vec![keep; 3]);
    }

    #[test]
    fn different_versions_or_nothing_new_keep_the_old_one() {
        let keep = Decision::Keep {
            outcome: ReloadOutcome::Unchanged,
            error: None,
        };
        assert_eq!(round(vec![ready(1), ready(2)]), vec![keep.clone(); 2]);
        assert_eq!(
            round(vec![Vote::Unchanged, ready(2)]),
            vec![keep.clone(); 2]
        );
        assert_eq!(round(vec![Vote::Unchanged; 2]), vec![keep; 2]);
    }

    #[test]
    fn one_thread_decides_at_once() {
        assert_eq!(ReloadRound::new(1).vote(ready(3), T), Decision::Swap);
    }

    #[test]
    fn a_missing_vote_keeps_the_old_version_after_the_timeout() {
        let d = ReloadRound::new(2).vote(ready(1), Duration::from_millis(10));
        assert!(
            matches!(
                d,
                Decision::Keep {
                    outcome: ReloadOutcome::Failed,
                    ..
                }
            ),
            "{d:?}"
        );
    }
}
