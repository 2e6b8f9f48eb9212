//! Platform calls relayed to the gateway through Redis: a request list and
//! one answer list per call.
//!
//! A node that is not the gateway pushes `{id, call, expires_ms}` onto
//! the `calls` list and waits (`BLPOP`) on `answer:<id>`; the gateway polls
//! the list (`RPOP`: a gateway paused in a `BRPOP` would be handed calls it
//! cannot make), makes each call with its own sign-in while it holds the
//! lease, and pushes the answer, which expires if nobody collects it. One
//! round trip takes up to 256 calls and pushes the answers made since. A
//! caller with no answer after [`REPUSH`] pushes its call again (a gateway
//! that died, or was paused, after popping it never answers); the gateway
//! makes a call once per id and answers a repeat from what it remembers.
//! A call nobody answers in [`RELAYED_ANSWER`] fails with a clear error, as a
//! platform that does not answer would. Lists, not a stream: a call is
//! worth making only while its caller waits, so nothing needs replaying.

use super::conn::RedisConn;
use super::wire::Keys;
use super::ClusterError;
use crate::platform::relay::{CallRelay, RelayedCall, RelayedFailure};
use crate::platform::{HttpApi, PlatformError};
use crate::retry::Backoff;
use crate::timeouts::RELAYED_ANSWER;
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// How long a caller waits for an answer before it pushes its call again.
pub const REPUSH: Duration = Duration::from_secs(1);
/// How long an answer nobody collected stays in Redis.
const ANSWER_TTL_MS: u64 = 60_000;
/// Call ids the gateway remembers (made, or being made).
const REMEMBERED: usize = 10_000;

#[derive(Debug, Serialize, Deserialize)]
struct Request {
    id: String,
    call: RelayedCall,
    /// The caller gives up at this time (its clock, ms since the epoch).
    expires_ms: i64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Answer {
    Ok(Value),
    Failed(RelayedFailure),
}

/// Connections a node keeps open between relayed calls. A call waits
/// for its answer on the connection it pushed on, so calls in flight at
/// once each need one; past this many, the extra ones are closed.
const KEPT_CONNECTIONS: usize = 32;
/// A kept connection idle this long is closed rather than used: Redis (its
/// `timeout` setting) or a middlebox may have closed it meanwhile.
const KEPT_IDLE: Duration = Duration::from_secs(30);

/// The node's side: implements [`CallRelay`] for its `HttpApi`.
pub struct RedisRelay {
    url: crate::config::Secret,
    keys: Keys,
    /// Idle connections. Opening one per call cost a TCP handshake (and
    /// an `AUTH`) for each of the thousands of groups a new partition
    /// owner creates while it re-sends its channels' views.
    idle: std::sync::Mutex<Vec<(RedisConn, std::time::Instant)>>,
}

impl RedisRelay {
    pub fn new(url: &crate::config::Secret, keys: Keys) -> Self {
        RedisRelay {
            url: url.clone(),
            keys,
            idle: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// A kept connection (and `true`), or a new one.
    fn connection(&self) -> Result<(RedisConn, bool), ClusterError> {
        let kept = {
            let mut idle = self
                .idle
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            idle.retain(|(_, since)| since.elapsed() < KEPT_IDLE);
            idle.pop()
        };
        match kept {
            Some((conn, _)) => Ok((conn, true)),
            None => Ok((
                RedisConn::open(self.url.expose(), crate::timeouts::REDIS_CALL)?,
                false,
            )),
        }
    }

    fn keep(&self, conn: RedisConn) {
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if idle.len() < KEPT_CONNECTIONS {
            idle.push((conn, std::time::Instant::now()));
        }
    }

    fn call_blocking(&self, call: RelayedCall) -> Result<Value, PlatformError> {
        let what = call.what();
        let unreachable = |e: ClusterError| PlatformError::Relay {
            what: what.clone(),
            detail: format!("cannot relay the call to the cluster's gateway: {e}"),
        };
        let (conn, kept) = self.connection().map_err(unreachable)?;
        let id = uuid::Uuid::new_v4().to_string();
        let request = Request {
            id: id.clone(),
            call,
            expires_ms: crate::clock::now_ms().saturating_add(RELAYED_ANSWER.as_millis() as i64),
        };
        let text = serde_json::to_string(&request).map_err(|e| PlatformError::Relay {
            what: what.clone(),
            detail: e.to_string(),
        })?;
        let push = || conn.query::<i64>(redis::cmd("LPUSH").arg(self.keys.calls()).arg(&text));
        if let Err(e) = push() {
            // A kept connection Redis closed meanwhile: once more, on a new
            // one (`RedisConn` reconnects after a failure).
            if !kept {
                return Err(unreachable(e));
            }
            push().map_err(unreachable)?;
        }
        let popped = self
            .wait_for_answer(&conn, &id, push)
            .map_err(unreachable)?;
        self.keep(conn);
        let Some((_, text)) = popped else {
            return Err(PlatformError::Relay {
                what,
                detail: format!("no gateway answered within {RELAYED_ANSWER:?}"),
            });
        };
        match serde_json::from_str(&text) {
            Ok(Answer::Ok(v)) => Ok(v),
            Ok(Answer::Failed(f)) => Err(f.into_error(what)),
            Err(e) => Err(PlatformError::Relay {
                what,
                detail: format!("the gateway's answer is not readable: {e}"),
            }),
        }
    }
}

impl RedisRelay {
    /// Waits for the answer to the call just pushed, pushing it again
    /// every [`REPUSH`] (the gateway makes a call once per id), until
    /// [`RELAYED_ANSWER`] has passed.
    fn wait_for_answer(
        &self,
        conn: &RedisConn,
        id: &str,
        push: impl Fn() -> Result<i64, ClusterError>,
    ) -> Result<Option<(String, String)>, ClusterError> {
        let deadline = std::time::Instant::now() + RELAYED_ANSWER;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            let wait = left.min(REPUSH);
            let popped: Option<(String, String)> = conn.query_blocking(
                redis::cmd("BLPOP")
                    .arg(self.keys.answer(id))
                    .arg(wait.as_secs_f64()),
                wait,
            )?;
            if popped.is_some() {
                return Ok(popped);
            }
            if deadline > std::time::Instant::now() {
                tracing::debug!("relayed call: no answer yet; asking again");
                push()?;
            }
        }
    }
}

impl CallRelay for Arc<RedisRelay> {
    fn call(&self, call: RelayedCall) -> BoxFuture<'static, Result<Value, PlatformError>> {
        let me = self.clone();
        Box::pin(async move {
            let what = call.what();
            tokio::task::spawn_blocking(move || me.call_blocking(call))
                .await
                .unwrap_or_else(|e| {
                    Err(PlatformError::Relay {
                        what,
                        detail: format!("the relay's thread failed: {e}"),
                    })
                })
        })
    }
}

/// What the gateway remembers of the calls it was asked to make.
#[derive(Default)]
struct Made {
    /// Call id -> its answer (`None` while being made).
    calls: std::collections::HashMap<String, Option<String>>,
    order: std::collections::VecDeque<String>,
}

impl Made {
    /// `None` for a call to make now; `Some(answer)` for a repeat (the
    /// answer, if made already).
    fn seen(&mut self, id: &str) -> Option<Option<String>> {
        if let Some(known) = self.calls.get(id) {
            return Some(known.clone());
        }
        self.calls.insert(id.to_string(), None);
        self.order.push_back(id.to_string());
        if self.order.len() > REMEMBERED {
            if let Some(old) = self.order.pop_front() {
                self.calls.remove(&old);
            }
        }
        None
    }
}

/// The gateway's side: answers relayed calls while `holds` says it is the
/// gateway and `serving` is true. Each call runs as a task of its own, so a
/// slow one does not hold the others back.
pub async fn serve(
    url: crate::config::Secret,
    keys: Keys,
    http: Arc<HttpApi>,
    serving: tokio::sync::watch::Receiver<bool>,
    holds: Arc<dyn Fn() -> bool + Send + Sync>,
) {
    let conn = match RedisConn::open(url.expose(), crate::timeouts::REDIS_CALL) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            tracing::error!(error = %e, "relayed calls will not be answered");
            return;
        }
    };
    let mut made = Made::default();
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<(String, String)>();
    let mut idle = Backoff::IDLE_POLL;
    let mut failed = Backoff::CLUSTER_REDIS;
    // Answers ready to push (answer key, answer), sent with the next pop.
    let mut ready: Vec<(String, String)> = Vec::new();
    while *serving.borrow() && holds() {
        while let Ok((id, answer)) = done_rx.try_recv() {
            ready.push((keys.answer(&id), answer.clone()));
            made.calls.insert(id, Some(answer));
        }
        let (c, k, answers) = (conn.clone(), keys.calls(), std::mem::take(&mut ready));
        let popped = tokio::task::spawn_blocking(move || pop_and_answer(&c, &k, answers)).await;
        let texts = match popped {
            Ok(Ok(texts)) => {
                failed.reset();
                texts
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot read relayed calls");
                tokio::time::sleep(failed.next()).await;
                continue;
            }
            Err(_) => return,
        };
        if texts.is_empty() {
            // Woken early by an answer to push.
            tokio::select! {
                _ = tokio::time::sleep(idle.next()) => {}
                got = done_rx.recv() => if let Some((id, answer)) = got {
                    ready.push((keys.answer(&id), answer.clone()));
                    made.calls.insert(id, Some(answer));
                },
            }
            continue;
        }
        idle.reset();
        for text in texts {
            let Ok(request) = serde_json::from_str::<Request>(&text) else {
                tracing::warn!("a relayed call that is not readable was dropped");
                continue;
            };
            if request.expires_ms < crate::clock::now_ms() || !holds() {
                continue;
            }
            match made.seen(&request.id) {
                Some(Some(answer)) => ready.push((keys.answer(&request.id), answer)),
                Some(None) => {}
                None => {
                    let (http, done) = (http.clone(), done_tx.clone());
                    tokio::spawn(async move {
                        let answer = make(&http, request.call).await;
                        let _ = done.send((request.id, answer));
                    });
                }
            }
        }
    }
}

/// Calls taken at once.
const POP_COUNT: usize = 256;

/// Pushes `answers` (each expiring) and takes up to [`POP_COUNT`] calls,
/// in one round trip.
fn pop_and_answer(
    conn: &RedisConn,
    calls: &str,
    answers: Vec<(String, String)>,
) -> Result<Vec<String>, ClusterError> {
    let mut pipe = redis::pipe();
    for (key, answer) in &answers {
        pipe.cmd("LPUSH").arg(key).arg(answer).ignore();
        pipe.cmd("PEXPIRE").arg(key).arg(ANSWER_TTL_MS).ignore();
    }
    pipe.cmd("RPOP").arg(calls).arg(POP_COUNT);
    let (popped,): (Option<Vec<String>>,) = conn.pipe(&pipe)?;
    Ok(popped.unwrap_or_default())
}

/// Makes one call; the answer as it travels back.
async fn make(http: &HttpApi, call: RelayedCall) -> String {
    let what = call.what();
    let answer = match http.call_relayed(call).await {
        Ok(v) => Answer::Ok(v),
        Err(e) => Answer::Failed(RelayedFailure::of(&e)),
    };
    tracing::debug!(call = %what, ok = matches!(answer, Answer::Ok(_)), "relayed call made");
    serde_json::to_string(&answer).unwrap_or_default()
}
