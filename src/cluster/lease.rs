//! A lease in Redis: one holder of a role (the platform connection, a
//! partition of channels) at a time, for a bounded time, with a fencing
//! token.
//!
//! The lease is one key, `KEY = "NODE TOKEN"` with a time to live; the token
//! comes from `KEY:fence`, a counter that only grows, and is taken each time
//! the lease changes hands. Acquiring, renewing and releasing are each one
//! Lua script, so Redis does them atomically: a renewal or a release by a
//! node that no longer holds the lease (its time ran out and someone else
//! took it) changes nothing.
//!
//! A holder must also stop acting on its own once the lease may have ended,
//! even without hearing from Redis (a paused process wakes up after its
//! lease expired): [`Held::valid`] counts from the moment the request was
//! *sent*, minus a margin for clock drift, so the holder always gives up
//! before Redis lets anyone else in.

use super::conn::RedisConn;
use super::ClusterError;
use std::time::{Duration, Instant};

/// Takes the lease when nobody holds it: `KEYS[1]` the lease, `KEYS[2]`
/// the fence; `ARGV[1]` the node, `ARGV[2]` the time to live in ms.
const ACQUIRE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. token, 'PX', ARGV[2])
return token";

/// Extends the lease if `ARGV[1]` (node and token) still holds it.
const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0";

/// Ends the lease if `ARGV[1]` (node and token) still holds it.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0";

/// The share of the time to live a holder gives up early, for clock drift
/// between this process and Redis.
const DRIFT: f64 = 0.1;

/// One lease (a key in Redis) as seen by one node.
pub struct Lease {
    conn: std::sync::Arc<RedisConn>,
    key: String,
    node: String,
    ttl: Duration,
}

/// This node holds the lease: with this token, until `valid_until` at the
/// latest (by this process's clock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub token: u64,
    valid_until: Instant,
    /// When the request that took or renewed it was sent.
    sent: Instant,
}

impl Held {
    /// True while this node may still act as the holder. Checked before
    /// every action the lease guards.
    pub fn valid(&self) -> bool {
        Instant::now() < self.valid_until
    }

    /// How long ago it was taken or last renewed.
    pub fn age(&self) -> Duration {
        self.sent.elapsed()
    }
}

/// Who holds a lease, as Redis says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub node: String,
    pub token: u64,
}

impl Lease {
    /// The lease `key` for `node`, lasting `ttl` from each acquisition or
    /// renewal. Nothing is sent to Redis yet.
    pub fn new(url: &str, key: &str, node: &str, ttl: Duration) -> Result<Self, ClusterError> {
        let conn = std::sync::Arc::new(RedisConn::open(url, ttl)?);
        Ok(Lease::on(conn, key, node, ttl))
    }

    /// The same, over a connection shared with other leases.
    pub fn on(conn: std::sync::Arc<RedisConn>, key: &str, node: &str, ttl: Duration) -> Self {
        Lease {
            conn,
            key: key.to_string(),
            node: node.to_string(),
            ttl,
        }
    }

    fn eval(&self, script: &str, keys: &[&str], args: &[String]) -> Result<i64, ClusterError> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(script).arg(keys.len()).arg(keys).arg(args);
        self.conn.query(&cmd)
    }

    fn ttl_ms(&self) -> String {
        self.ttl.as_millis().max(1).to_string()
    }

    /// How long a holder may act after sending a request: the time to live
    /// less the drift margin.
    fn valid_from(&self, sent: Instant) -> Instant {
        sent + self.ttl.mul_f64(1.0 - DRIFT)
    }

    /// Takes the lease if nobody holds it.
    pub fn try_acquire(&self) -> Result<Option<Held>, ClusterError> {
        let sent = Instant::now();
        let fence = format!("{}:fence", self.key);
        let token = self.eval(
            ACQUIRE,
            &[&self.key, &fence],
            &[self.node.clone(), self.ttl_ms()],
        )?;
        Ok(u64::try_from(token)
            .ok()
            .filter(|t| *t > 0)
            .map(|token| Held {
                token,
                valid_until: self.valid_from(sent),
                sent,
            }))
    }

    /// Extends `held` for another time to live; `None` when this node no
    /// longer holds the lease (it must stop acting as the holder).
    pub fn renew(&self, held: &Held) -> Result<Option<Held>, ClusterError> {
        let sent = Instant::now();
        let me = format!("{} {}", self.node, held.token);
        let renewed = self.eval(RENEW, &[&self.key], &[me, self.ttl_ms()])?;
        Ok((renewed == 1).then(|| Held {
            token: held.token,
            valid_until: self.valid_from(sent),
            sent,
        }))
    }

    /// Renews every `(lease, held)` in one round trip (the leases share
    /// `conn`): for each, the renewed lease or `None` when it is lost.
    pub fn renew_all(
        conn: &RedisConn,
        leases: &[(&Lease, &Held)],
    ) -> Result<Vec<Option<Held>>, ClusterError> {
        if leases.is_empty() {
            return Ok(Vec::new());
        }
        let sent = Instant::now();
        let mut pipe = redis::pipe();
        for (lease, held) in leases {
            let me = format!("{} {}", lease.node, held.token);
            pipe.cmd("EVAL")
                .arg(RENEW)
                .arg(1)
                .arg(&lease.key)
                .arg(me)
                .arg(lease.ttl_ms());
        }
        let results: Vec<i64> = conn.pipe(&pipe)?;
        Ok(leases
            .iter()
            .zip(results)
            .map(|((lease, held), renewed)| {
                (renewed == 1).then(|| Held {
                    token: held.token,
                    valid_until: lease.valid_from(sent),
                    sent,
                })
            })
            .collect())
    }

    /// Tries to take every lease of `leases` in one round trip: for each,
    /// the lease taken or `None` when someone holds it.
    pub fn acquire_all(
        conn: &RedisConn,
        leases: &[&Lease],
    ) -> Result<Vec<Option<Held>>, ClusterError> {
        if leases.is_empty() {
            return Ok(Vec::new());
        }
        let sent = Instant::now();
        let mut pipe = redis::pipe();
        for lease in leases {
            pipe.cmd("EVAL")
                .arg(ACQUIRE)
                .arg(2)
                .arg(&lease.key)
                .arg(format!("{}:fence", lease.key))
                .arg(&lease.node)
                .arg(lease.ttl_ms());
        }
        let results: Vec<i64> = conn.pipe(&pipe)?;
        Ok(leases
            .iter()
            .zip(results)
            .map(|(lease, token)| {
                u64::try_from(token)
                    .ok()
                    .filter(|t| *t > 0)
                    .map(|token| Held {
                        token,
                        valid_until: lease.valid_from(sent),
                        sent,
                    })
            })
            .collect())
    }

    /// Gives the lease up at once (a clean stop), if this node still holds it.
    pub fn release(&self, held: &Held) -> Result<bool, ClusterError> {
        let me = format!("{} {}", self.node, held.token);
        Ok(self.eval(RELEASE, &[&self.key], &[me])? == 1)
    }

    /// Takes the lease as a lock, waiting for it up to `within`; released
    /// when the guard is dropped. `None` when it stayed taken.
    pub fn lock(&self, within: Duration) -> Result<Option<LockGuard<'_>>, ClusterError> {
        let deadline = Instant::now() + within;
        let mut poll = crate::retry::Backoff::LOCK_POLL;
        loop {
            if let Some(held) = self.try_acquire()? {
                return Ok(Some(LockGuard { lease: self, held }));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(poll.next());
        }
    }

    /// Who holds the lease now, if anyone.
    pub fn holder(&self) -> Result<Option<Holder>, ClusterError> {
        let value: Option<String> = self.conn.query(redis::cmd("GET").arg(&self.key))?;
        let Some(value) = value else { return Ok(None) };
        let (node, token) = value
            .rsplit_once(' ')
            .ok_or_else(|| ClusterError::Unexpected(format!("lease value {value:?}")))?;
        let token = token
            .parse()
            .map_err(|_| ClusterError::Unexpected(format!("lease token {token:?}")))?;
        Ok(Some(Holder {
            node: node.to_string(),
            token,
        }))
    }
}

/// A lease taken as a lock ([`Lease::lock`]): released when dropped.
pub struct LockGuard<'a> {
    lease: &'a Lease,
    held: Held,
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        let _ = self.lease.release(&self.held);
    }
}
