//! Appending to the cluster's streams exactly once, however often a batch
//! has to be tried.
//!
//! The gateway's upward appender (`up.rs`) and every node's downward one
//! (`down.rs`) retry a batch until Redis takes it. A retry must not append
//! again what the failed try appended: with one `XADD` per entry in a
//! pipeline, Redis answering `OOM` (maxmemory reached under `noeviction`)
//! half-way through left the first entries in the stream, the retry added
//! them again, and users got their replies twice. The stream's own entry
//! id cannot tell a retry apart, since Redis gives a new one to each
//! `XADD`.
//!
//! So the identity of an entry is fixed before its first try: each writer
//! (one per thread and process start, a random id) numbers its entries
//! 1, 2, 3... in the order it appends them, and a batch is one Lua script
//! ([`APPEND`]) that appends the entries numbered above the writer's mark
//! (`appended:<writer>`, the last number appended) and moves the mark, in
//! one atomic step. Why this is exactly once:
//!
//! - a writer tries one batch at a time, the same batch until it is taken,
//!   so its numbers reach Redis in order;
//! - a try that ran (even if its answer was lost: a timeout, a reset)
//!   moved the mark past its entries, so the next try appends none of them
//!   again;
//! - a try that did not run appended nothing. Redis refuses a script's
//!   write for lack of memory only before its first write (it cannot stop
//!   a script half-way), and a write the script sees fail (`pcall`) moves
//!   the mark to the entry before it, so a partial run is recorded exactly.
//!
//! The mark expires [`MARK_TTL`] after the writer's last append, so the
//! marks of nodes that are gone do not pile up; a retry that waits
//! longer than that for Redis could append its batch twice.

use super::conn::RedisConn;
use super::wire::{Keys, STREAM_MAXLEN};
use super::ClusterError;
use crate::retry::Backoff;
use std::collections::HashMap;
use std::time::Duration;

/// `KEYS[1]` the writer's mark, `KEYS[2..]` the streams; `ARGV[1]` the
/// mark's time to live (ms), `ARGV[2]` the streams' `MAXLEN`, `ARGV[3]`
/// the number of the batch's first entry, then per entry the index of its
/// stream in `KEYS` and its text. Returns how many entries were appended.
const APPEND: &str = r"
local done = tonumber(redis.call('GET', KEYS[1]) or '0')
local seq = tonumber(ARGV[3]) - 1
local added = 0
for i = 4, #ARGV, 2 do
  seq = seq + 1
  if seq > done then
    local r = redis.pcall('XADD', KEYS[tonumber(ARGV[i])], 'MAXLEN', '~', ARGV[2], '*', 'event', ARGV[i + 1])
    if type(r) == 'table' and r.err then
      if seq - 1 > done then
        redis.call('SET', KEYS[1], string.format('%d', seq - 1), 'PX', ARGV[1])
      end
      return r
    end
    added = added + 1
  end
end
if seq > done then redis.call('SET', KEYS[1], string.format('%d', seq), 'PX', ARGV[1]) end
return added";

/// How long a writer's mark outlives its last append: far longer than any
/// retry lasts (a retry waits for Redis to take writes again), short
/// enough that the marks of nodes gone for good (one small key each)
/// leave Redis within a day.
pub const MARK_TTL: Duration = Duration::from_secs(24 * 3600);

/// One writer: a connection, its mark and the number of its next entry.
pub struct OnceAppender {
    conn: RedisConn,
    mark: String,
    next: u64,
}

impl OnceAppender {
    /// A writer with a fresh identity, on its own connection to `url`.
    pub fn open(url: &crate::config::Secret, keys: &Keys) -> Result<Self, ClusterError> {
        let conn = RedisConn::open(url.expose(), crate::timeouts::REDIS_CALL)?;
        let writer = uuid::Uuid::new_v4().simple().to_string();
        Ok(OnceAppender {
            conn,
            mark: keys.appended(&writer),
            next: 1,
        })
    }

    /// Appends `entries` (stream key, text), in order, each exactly once,
    /// trying until Redis takes them (`what` names them in the warning).
    pub fn append_all(&mut self, entries: &[(String, String)], what: &str) {
        if entries.is_empty() {
            return;
        }
        let script = self.script_for(entries);
        self.next += entries.len() as u64;
        let mut failing = false;
        let mut backoff = Backoff::CLUSTER_REDIS;
        loop {
            match self.conn.query::<u64>(&script) {
                Ok(added) => {
                    if failing && added < entries.len() as u64 {
                        tracing::info!(
                            added,
                            already = entries.len() as u64 - added,
                            "cluster: a retried append skipped the {what} its failed try had appended"
                        );
                    }
                    return;
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, count = entries.len(), "cluster: cannot append {what}; retrying");
                    }
                    failing = true;
                    std::thread::sleep(backoff.next());
                }
            }
        }
    }

    /// The script's call for `entries`, numbered from `self.next`.
    fn script_for(&self, entries: &[(String, String)]) -> redis::Cmd {
        let mut streams: Vec<&str> = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        let positions: Vec<usize> = entries
            .iter()
            .map(|(key, _)| {
                *index.entry(key.as_str()).or_insert_with(|| {
                    streams.push(key.as_str());
                    streams.len() + 1 // KEYS[1] is the mark; Lua counts from 1
                })
            })
            .collect();
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(APPEND)
            .arg(streams.len() + 1)
            .arg(&self.mark)
            .arg(&streams)
            .arg(MARK_TTL.as_millis() as u64)
            .arg(STREAM_MAXLEN)
            .arg(self.next);
        for ((_, text), position) in entries.iter().zip(positions) {
            cmd.arg(position).arg(text);
        }
        cmd
    }
}
