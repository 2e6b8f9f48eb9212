//! Which script thread handles what, when `script_threads` is more than one.
//!
//! Each channel belongs to one script thread, chosen by a stable hash of its
//! id ([`shard_of`]), so a channel's members' events are handled one at a
//! time in arrival order on that thread, as with a single thread, while channels of
//! other threads run in parallel (with no order between them). The
//! service-wide steps (`before_channel_init`, `on_start`, reloads) go to
//! every thread; a spell goes to the thread owning its `channel_id`, else
//! to every thread, and its answer is then the list of the threads'
//! answers, in thread order (docs/AUTHORING.md, "Script threads"). Timers
//! and requests call back on the thread that made them (their events never
//! pass through here).
//!
//! [`EventSender`] is the one way into the script threads for the rest of
//! the host (the dispatcher, the reload triggers, the probe): it routes in
//! the caller, with no extra hop, and with one thread it is exactly the
//! single queue it replaces.

use crate::host::events::{HostEvent, Inspection, NewSource, ReloadRequest};
use crate::host::reload::round::ReloadRound;
use crate::host::reload::tags::ThreadVersions;
use crate::host::threads::intake::{Intake, Refused};
use crate::protocol::ids::shard_of;
use crate::script::CompileOptions;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::oneshot;

/// The script threads are gone (the host is stopping).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the script threads have stopped")]
pub struct ThreadsGone;

/// The way to the script threads' queues, once they exist: made empty
/// when the host starts (the probe and the handle hold it), filled in by
/// the run once the script compiled.
pub(in crate::host) type ScriptSlot = std::sync::Arc<std::sync::OnceLock<EventSender>>;

/// Sends host events to the script thread(s) that handle them.
#[derive(Clone, Debug)]
pub struct EventSender {
    threads: Arc<[Intake]>,
    /// How the running version was compiled: a reload compiles the same
    /// way, off the script threads ([`compile_and_reload`](Self::compile_and_reload)).
    compile: Arc<Mutex<CompileOptions>>,
    /// The threads' versions and counters, for deploys (`reload/stage.rs`).
    versions: Arc<ThreadVersions>,
}

impl EventSender {
    pub fn new(threads: Vec<Intake>, compile: CompileOptions) -> Self {
        let versions = Arc::new(ThreadVersions::new(threads.len()));
        EventSender {
            threads: threads.into(),
            compile: Arc::new(Mutex::new(compile)),
            versions,
        }
    }

    /// The same, reporting through the threads' own `versions` (which they
    /// write).
    pub fn with_versions(mut self, versions: Arc<ThreadVersions>) -> Self {
        self.versions = versions;
        self
    }

    pub(in crate::host) fn thread_versions(&self) -> &ThreadVersions {
        &self.versions
    }

    pub fn thread_count(&self) -> usize {
        self.threads.len()
    }

    /// How the running version was compiled (limits and all).
    pub(in crate::host) fn compile_options(&self) -> CompileOptions {
        self.compile
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Sends `event` to thread `index` only (a deploy's step).
    pub(in crate::host) fn to_thread(
        &self,
        index: usize,
        event: HostEvent,
    ) -> Result<(), ThreadsGone> {
        self.to(index, event)
    }

    /// Compiles the next version (from `req.source`, else from the running
    /// version's files) off the script threads, one copy per thread, then
    /// sends the request to every thread: the threads go on serving while
    /// it compiles.
    pub async fn compile_and_reload(&self, mut req: ReloadRequest) -> Result<(), ThreadsGone> {
        let current = self
            .compile
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let opts = match &req.source {
            Some(s) => current.relocated(&s.main, &s.base_dir),
            None => current,
        };
        let n = self.threads.len();
        req.compiled = crate::host::reload::compile::compile(opts, n, req.report_failure).await;
        self.send(HostEvent::Reload(req))
    }

    /// The running version now lives in `source` (a swapped bundle): later
    /// reloads compile from there.
    pub fn relocate(&self, source: &NewSource) {
        let mut current = self.compile.lock().unwrap_or_else(PoisonError::into_inner);
        *current = current.relocated(&source.main, &source.base_dir);
    }

    fn to(&self, shard: usize, event: HostEvent) -> Result<(), ThreadsGone> {
        match self.threads.get(shard) {
            Some(tx) => tx.send(event).map_err(|_| ThreadsGone),
            None => Err(ThreadsGone),
        }
    }

    fn owner(&self, channel_id: &str) -> usize {
        shard_of(channel_id, self.threads.len())
    }

    /// Routes `event` (see the module comment).
    pub fn send(&self, event: HostEvent) -> Result<(), ThreadsGone> {
        if self.threads.len() == 1 {
            return match event {
                HostEvent::Reload(req) => self.reload(req),
                other => self.to(0, other),
            };
        }
        match event {
            HostEvent::ChannelInit(ch) => self.to(self.owner(&ch), HostEvent::ChannelInit(ch)),
            HostEvent::Checkin(ch) => self.to(self.owner(&ch), HostEvent::Checkin(ch)),
            HostEvent::Inbound(inbound) => {
                let shard = inbound.channel_id().map_or(0, |ch| self.owner(ch));
                self.to(shard, HostEvent::Inbound(inbound))
            }
            HostEvent::Message {
                message,
                recipients,
            } => self.to(
                self.owner(&message.channel_id),
                HostEvent::Message {
                    message,
                    recipients,
                },
            ),
            HostEvent::Spell { value, reply } => self.spell(value, reply).map_err(|_| ThreadsGone),
            HostEvent::BeforeChannelInit { service_id } => {
                self.everywhere(|| HostEvent::BeforeChannelInit {
                    service_id: service_id.clone(),
                })
            }
            HostEvent::Start => self.everywhere(|| HostEvent::Start),
            HostEvent::Shutdown => {
                for tx in self.threads.iter() {
                    let _ = tx.send(HostEvent::Shutdown);
                }
                Ok(())
            }
            HostEvent::Reload(req) => self.reload(req),
            HostEvent::Inspect(reply) => self.inspect(reply),
            clustered @ HostEvent::Clustered { .. } => {
                let shard = clustered.channel_id().map_or(0, |ch| self.owner(ch));
                self.to(shard, clustered)
            }
            // A thread's own (timers, responses) never come this way.
            other => self.to(0, other),
        }
    }

    /// Queues a spell on the thread owning its `channel_id`; without one,
    /// and with several threads, on every thread (see [`Self::spell_everywhere`]).
    /// Refused when a thread's spell lane is full (see `intake.rs`).
    pub fn spell(
        &self,
        value: serde_json::Value,
        reply: oneshot::Sender<crate::host::events::SpellAnswer>,
    ) -> Result<(), Refused> {
        let channel = value.get("channel_id").and_then(|c| c.as_str());
        let shard = match channel {
            Some(ch) => self.owner(ch),
            None if self.threads.len() > 1 => return self.spell_everywhere(value, reply),
            None => 0,
        };
        let tx = self.threads.get(shard).ok_or(Refused::Closed)?;
        tx.send(HostEvent::Spell { value, reply })
    }

    /// One copy of the spell per thread (counted as handled once); `reply`
    /// gets `[answer of thread 0, answer of thread 1, ...]`, or the first
    /// error. All or nothing: when a thread refuses its copy, or the caller
    /// stops waiting, the copies already queued are dropped unrun (their
    /// answers' receivers are gone, which each thread checks before running).
    fn spell_everywhere(
        &self,
        value: serde_json::Value,
        reply: oneshot::Sender<Result<serde_json::Value, String>>,
    ) -> Result<(), Refused> {
        let rt = tokio::runtime::Handle::try_current().map_err(|_| Refused::Closed)?;
        let countdown = Arc::new(AtomicUsize::new(self.threads.len()));
        let mut answers = Vec::with_capacity(self.threads.len());
        for tx in self.threads.iter() {
            let (one_reply, answer) = oneshot::channel();
            let copy = HostEvent::Spell {
                value: value.clone(),
                reply: one_reply,
            };
            tx.send(HostEvent::Shared {
                event: Box::new(copy),
                countdown: countdown.clone(),
            })?;
            answers.push(answer);
        }
        rt.spawn(gather_answers(answers, reply));
        Ok(())
    }

    /// Sends one copy to every thread; the event counts as handled (for
    /// progress) once, when the last thread handled it.
    fn everywhere(&self, make: impl Fn() -> HostEvent) -> Result<(), ThreadsGone> {
        let countdown = Arc::new(AtomicUsize::new(self.threads.len()));
        for tx in self.threads.iter() {
            let shared = HostEvent::Shared {
                event: Box::new(make()),
                countdown: countdown.clone(),
            };
            tx.send(shared).map_err(|_| ThreadsGone)?;
        }
        Ok(())
    }

    /// A reload is one round every thread votes in (see `reload/round.rs`):
    /// all threads swap or none. Thread 0 reports the outcome.
    /// Each thread gets its own copy of the compiled version.
    fn reload(&self, mut req: ReloadRequest) -> Result<(), ThreadsGone> {
        let n = self.threads.len();
        let round = Arc::new(ReloadRound::new(n));
        let mut compiled = std::mem::take(&mut req.compiled);
        let mut copies: Vec<ReloadRequest> = (1..n)
            .map(|_| ReloadRequest {
                changed: req.changed.clone(),
                report_failure: req.report_failure,
                reply: None,
                source: req.source.clone(),
                round: Some(round.clone()),
                compiled: compiled.pop().into_iter().collect(),
            })
            .collect();
        req.round = Some(round);
        req.compiled = compiled;
        copies.insert(0, req);
        if n == 1 {
            let only = copies.pop().ok_or(ThreadsGone)?;
            return self.to(0, HostEvent::Reload(only));
        }
        let countdown = Arc::new(AtomicUsize::new(n));
        for (tx, copy) in self.threads.iter().zip(copies) {
            let shared = HostEvent::Shared {
                event: Box::new(HostEvent::Reload(copy)),
                countdown: countdown.clone(),
            };
            tx.send(shared).map_err(|_| ThreadsGone)?;
        }
        Ok(())
    }

    /// Asks every thread and answers with the sum.
    fn inspect(&self, reply: oneshot::Sender<Inspection>) -> Result<(), ThreadsGone> {
        let mut answers = Vec::with_capacity(self.threads.len());
        for tx in self.threads.iter() {
            let (one, rx) = oneshot::channel();
            tx.send(HostEvent::Inspect(one)).map_err(|_| ThreadsGone)?;
            answers.push(rx);
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return Err(ThreadsGone);
        };
        rt.spawn(async move {
            let mut all = Inspection::default();
            for rx in answers {
                if let Ok(part) = rx.await {
                    all.members.extend(part.members);
                    all.timers_pending += part.timers_pending;
                }
            }
            let _ = reply.send(all);
        });
        Ok(())
    }
}

/// Answers `reply` with every thread's answer, in order, or the first
/// error; gives up (dropping the answers' receivers) when the caller stops
/// waiting. A thread that dropped its copy (it is stopping) leaves `reply`
/// unanswered, which the caller reads as "gone".
async fn gather_answers(
    answers: Vec<oneshot::Receiver<Result<serde_json::Value, String>>>,
    mut reply: oneshot::Sender<Result<serde_json::Value, String>>,
) {
    let gathered = async move {
        let mut all = Vec::with_capacity(answers.len());
        for (thread, answer) in answers.into_iter().enumerate() {
            match answer.await.ok()? {
                Ok(v) => all.push(v),
                Err(e) => return Some(Err(format!("script thread {thread}: {e}"))),
            }
        }
        Some(Ok(serde_json::Value::Array(all)))
    };
    tokio::select! {
        _ = reply.closed() => {}
        answer = gathered => if let Some(answer) = answer {
            let _ = reply.send(answer);
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_fnv1a_and_stable() {
        // FNV-1a 64 test vectors: "" and "a".
        let n = usize::MAX;
        assert_eq!(shard_of("", n) as u64, 0xcbf2_9ce4_8422_2325 % n as u64);
        assert_eq!(shard_of("a", n) as u64, 0xaf63_dc4c_8601_ec8c % n as u64);
        assert_eq!(shard_of("anything", 1), 0);
    }

    #[test]
    fn channels_spread_over_the_threads() {
        let mut counts = [0usize; 4];
        for i in 0..4000 {
            counts[shard_of(&format!("channel-{i}"), 4)] += 1;
        }
        for c in counts {
            assert!((800..1200).contains(&c), "{counts:?}");
        }
    }

    #[tokio::test]
    async fn a_spell_goes_to_the_thread_of_its_channel_else_to_every_thread() {
        let (txs, mut rxs): (Vec<_>, Vec<_>) = (0..4)
            .map(|_| crate::host::threads::intake::channel())
            .unzip();
        let sender = EventSender::new(
            txs,
            CompileOptions::for_main(std::path::Path::new("s.rhai")),
        );
        let ch = (0..)
            .map(|i| format!("room-{i}"))
            .find(|c| shard_of(c, 4) == 3)
            .unwrap_or_default();
        for value in [
            serde_json::json!({"channel_id": ch}),
            serde_json::json!({"x": 1}),
        ] {
            let (reply, _rx) = oneshot::channel();
            sender.send(HostEvent::Spell { value, reply }).unwrap();
        }
        let spells: Vec<usize> = rxs
            .iter_mut()
            .map(|rx| std::iter::from_fn(|| rx.try_recv()).count())
            .collect();
        assert_eq!(spells, [1, 1, 1, 2]);
    }

    /// The threads' answers to a spell sent to all of them, as the caller gets them.
    async fn gathered(
        answers: Vec<Result<serde_json::Value, String>>,
    ) -> Option<Result<serde_json::Value, String>> {
        let (reply, rx) = oneshot::channel();
        let receivers = answers
            .into_iter()
            .map(|a| {
                let (tx, rx) = oneshot::channel();
                let _ = tx.send(a);
                rx
            })
            .collect();
        gather_answers(receivers, reply).await;
        rx.await.ok()
    }

    #[tokio::test]
    async fn a_spell_to_every_thread_answers_with_the_list_or_the_first_error() {
        let answers = vec![Ok(serde_json::json!(1)), Ok(serde_json::json!("two"))];
        assert_eq!(
            gathered(answers).await,
            Some(Ok(serde_json::json!([1, "two"])))
        );
        let failing = vec![
            Ok(serde_json::json!(1)),
            Err("boom".into()),
            Err("later".into()),
        ];
        assert_eq!(
            gathered(failing).await,
            Some(Err("script thread 1: boom".into()))
        );
    }

    #[test]
    fn a_channels_events_go_to_one_thread_and_lifecycle_steps_to_all() {
        let (txs, mut rxs): (Vec<_>, Vec<_>) = (0..3)
            .map(|_| crate::host::threads::intake::channel())
            .unzip();
        let sender = EventSender::new(
            txs,
            CompileOptions::for_main(std::path::Path::new("s.rhai")),
        );
        for _ in 0..5 {
            sender.send(HostEvent::Checkin("lobby".into())).unwrap();
        }
        sender.send(HostEvent::Start).unwrap();
        let owner = shard_of("lobby", 3);
        for (i, rx) in rxs.iter_mut().enumerate() {
            let mut checkins = 0;
            let mut starts = 0;
            while let Some(e) = rx.try_recv() {
                match e {
                    HostEvent::Checkin(ch) if ch == "lobby" => checkins += 1,
                    HostEvent::Shared { event, .. } if matches!(*event, HostEvent::Start) => {
                        starts += 1
                    }
                    _ => panic!("unexpected event"),
                }
            }
            assert_eq!(checkins, if i == owner { 5 } else { 0 });
            assert_eq!(starts, 1);
        }
    }
}
