//! The deploy API of a host's script threads: versions moved in two
//! phases, on all threads or on some (a canary), and back.
//!
//! This is what a deploy is built from, on a lone host (`host/deploy/`,
//! behind the admin endpoint) or on each node of a cluster. Get it from
//! the host's [`EventSender`] with [`EventSender::versions`]. The protocol:
//!
//! 1. [`Versions::prepare`]`(source, tag, keep)`: compiles the version in
//!    `source` off the script threads (one copy per thread, within
//!    `compile_timeout_ms`), then every thread builds its engine around its
//!    copy and runs the new `on_reload` on a deep copy of its `this` with
//!    every effect dropped (`dry_run.rs`). Nothing is swapped. `Err(veto)`
//!    names the first thread that could not, with the framed error; the
//!    prepared copies are then already discarded everywhere.
//! 2. [`Versions::commit`]`(threads)`: those threads swap to the prepared
//!    version between two events, all of them or none (one round, as a hot
//!    reload), adopt `this` and run `on_reload` for real. Each keeps the
//!    version it left. Commit a subset first for a canary, the rest later.
//! 3. [`Versions::revert`]`(threads)`: those threads swap back to the
//!    version they kept (adopting `this` back, then that version's
//!    `on_reload`), in one round.
//! 4. [`Versions::finish`] drops the kept versions (no way back but a new
//!    deploy); [`Versions::discard`] drops prepared versions not committed.
//!    A deploy ends with both (they are harmless where nothing is held).
//!
//! Meanwhile [`Versions::stats`] gives each thread's handler counters
//! (events, errors, a latency histogram; take one as a mark and compare a
//! later one with [`crate::deploy::HandlerStats::since`]) and
//! [`Versions::tags`] the version each thread runs. [`Versions::pin`]
//! keeps file saves (and a replaced `--bundle` file) from replacing a
//! deployed version. Steps are not reentrant: one deploy at a time, which
//! the caller enforces.
//!
//! Every step waits for its threads within [`DEPLOY_STEP`]: a thread
//! answers between two events, so a long handler delays the step by at
//! most its own time limit.

use crate::deploy::{HandlerStats, VersionTag};
use crate::host::events::{DeployAction, DeployStep, HostEvent, KeepAlive, NewSource, Precompiled};
use crate::host::reload::round::ReloadRound;
use crate::host::threads::shards::{EventSender, ThreadsGone};
use crate::timeouts::DEPLOY_STEP;
use std::sync::Arc;
use tokio::sync::oneshot;

/// Why a step did not happen on every thread asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    /// A thread refused: `thread` is its index, `error` the framed reason
    /// (a compile error, `on_reload`'s error, a missing version).
    #[error("script thread {thread}: {error}")]
    Thread { thread: usize, error: String },
    #[error("script thread {0} did not answer within {DEPLOY_STEP:?}")]
    NoAnswer(usize),
    #[error("no script thread {0} (there are {1})")]
    NoSuchThread(usize, usize),
    #[error("{0}")]
    Gone(#[from] ThreadsGone),
}

/// The deploy API of one host's script threads (see the module comment).
#[derive(Debug, Clone)]
pub struct Versions {
    events: EventSender,
}

impl EventSender {
    /// The deploy API of these script threads.
    pub fn versions(&self) -> Versions {
        Versions {
            events: self.clone(),
        }
    }
}

impl Versions {
    /// How many script threads there are (thread indexes are `0..threads()`).
    pub fn threads(&self) -> usize {
        self.events.thread_count()
    }

    /// Every thread's running version, by index.
    pub fn tags(&self) -> Vec<VersionTag> {
        self.events.thread_versions().tags()
    }

    /// Every thread's handler counters so far, by index.
    pub fn stats(&self) -> Vec<HandlerStats> {
        let versions = self.events.thread_versions();
        versions.stats.iter().map(|s| s.snapshot()).collect()
    }

    /// Keeps file saves from replacing `tag` (`None`: they reload again).
    pub fn pin(&self, tag: Option<VersionTag>) {
        self.events.thread_versions().pin(tag);
    }

    /// The pinned version, if any.
    pub fn pinned(&self) -> Option<VersionTag> {
        self.events.thread_versions().pinned()
    }

    /// Compiles `source` and prepares it on every thread (see the module
    /// comment); `keep` is held for as long as a thread holds the version.
    pub async fn prepare(
        &self,
        source: NewSource,
        tag: VersionTag,
        keep: Option<KeepAlive>,
    ) -> Result<(), StepError> {
        let n = self.threads();
        let opts = self
            .events
            .compile_options()
            .relocated(&source.main, &source.base_dir);
        let copies = crate::host::reload::compile::compile(opts, n, true).await;
        let mut copies = copies.into_iter();
        let all: Vec<usize> = (0..n).collect();
        let outcome = self
            .each(&all, |_| DeployAction::Prepare {
                compiled: copies
                    .next()
                    .unwrap_or_else(|| Precompiled::Failed("no compiled copy".into())),
                source: source.clone(),
                tag: tag.clone(),
                keep: keep.clone(),
            })
            .await;
        if outcome.is_err() {
            let _ = self.discard().await;
        }
        outcome
    }

    /// Swaps `threads` to the prepared version, all or none.
    pub async fn commit(&self, threads: &[usize]) -> Result<(), StepError> {
        let round = Arc::new(ReloadRound::new(threads.len()));
        self.each(threads, |_| DeployAction::Commit(round.clone()))
            .await
    }

    /// Swaps `threads` back to the version they kept, all or none.
    pub async fn revert(&self, threads: &[usize]) -> Result<(), StepError> {
        let round = Arc::new(ReloadRound::new(threads.len()));
        self.each(threads, |_| DeployAction::Revert(round.clone()))
            .await
    }

    /// Drops every thread's kept previous version.
    pub async fn finish(&self) -> Result<(), StepError> {
        let all: Vec<usize> = (0..self.threads()).collect();
        self.each(&all, |_| DeployAction::Finish).await
    }

    /// Drops every thread's prepared version.
    pub async fn discard(&self) -> Result<(), StepError> {
        let all: Vec<usize> = (0..self.threads()).collect();
        self.each(&all, |_| DeployAction::Discard).await
    }

    /// Sends one step to each of `threads` and waits for every answer; the
    /// first refusal (by thread order) is the error.
    async fn each(
        &self,
        threads: &[usize],
        mut action: impl FnMut(usize) -> DeployAction,
    ) -> Result<(), StepError> {
        let n = self.threads();
        if let Some(&bad) = threads.iter().find(|&&i| i >= n) {
            return Err(StepError::NoSuchThread(bad, n));
        }
        let mut answers = Vec::with_capacity(threads.len());
        for &i in threads {
            let (reply, rx) = oneshot::channel();
            let step = DeployStep {
                action: action(i),
                reply,
            };
            self.events.to_thread(i, HostEvent::Deploy(step))?;
            answers.push((i, rx));
        }
        let deadline = tokio::time::Instant::now() + DEPLOY_STEP;
        let mut first = None;
        for (i, rx) in answers {
            let result = match tokio::time::timeout_at(deadline, rx).await {
                Ok(Ok(Ok(()))) => Ok(()),
                Ok(Ok(Err(error))) => Err(StepError::Thread { thread: i, error }),
                Ok(Err(_)) => Err(StepError::Gone(ThreadsGone)),
                Err(_) => Err(StepError::NoAnswer(i)),
            };
            if let (Err(e), None) = (result, &first) {
                first = Some(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}
