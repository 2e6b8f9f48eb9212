//! One blocking Redis connection, kept open between commands and opened
//! again after a failure.
//!
//! Every cluster role runs on a thread of its own and talks to Redis in
//! short commands (a lease renewal, an `XADD` batch), so a plain blocking
//! connection per role is the simplest thing that works. Opening one per
//! command, as the first version did, cost a TCP handshake for each of the
//! 64 partitions' renewals on every tick.

use super::ClusterError;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

pub struct RedisConn {
    client: redis::Client,
    /// The URL without its password (for errors).
    shown_url: String,
    timeout: Duration,
    cached: Mutex<Option<redis::Connection>>,
}

impl RedisConn {
    /// A connection to `url` whose commands wait at most `timeout` (a
    /// blocking read asks for more itself). Nothing is sent yet.
    pub fn open(url: &str, timeout: Duration) -> Result<Self, ClusterError> {
        let (client, shown_url) = super::open(url)?;
        Ok(RedisConn {
            client,
            shown_url,
            timeout,
            cached: Mutex::new(None),
        })
    }

    pub fn shown_url(&self) -> &str {
        &self.shown_url
    }

    pub fn failed(&self, source: redis::RedisError) -> ClusterError {
        ClusterError::Redis {
            url: self.shown_url.clone(),
            source,
        }
    }

    /// Runs one command (or a pipeline, through [`RedisConn::pipe`]).
    pub fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, ClusterError> {
        self.with(self.timeout, |c| cmd.query(c))
    }

    /// Runs a command that may block in Redis for up to `block` (XREADGROUP
    /// BLOCK, BLPOP).
    pub fn query_blocking<T: redis::FromRedisValue>(
        &self,
        cmd: &redis::Cmd,
        block: Duration,
    ) -> Result<T, ClusterError> {
        self.with(self.timeout + block, |c| cmd.query(c))
    }

    pub fn pipe<T: redis::FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
    ) -> Result<T, ClusterError> {
        self.with(self.timeout, |c| pipe.query(c))
    }

    fn with<T>(
        &self,
        read_timeout: Duration,
        f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, ClusterError> {
        let mut cached = self.cached.lock().unwrap_or_else(PoisonError::into_inner);
        let mut conn = match cached.take() {
            Some(c) => c,
            None => self
                .client
                .get_connection_with_timeout(self.timeout)
                .map_err(|e| self.failed(e))?,
        };
        conn.set_read_timeout(Some(read_timeout))
            .map_err(|e| self.failed(e))?;
        match f(&mut conn) {
            Ok(v) => {
                *cached = Some(conn);
                Ok(v)
            }
            // A refusal (a Lua error, BUSYGROUP) leaves the connection usable;
            // anything else (a timeout, a reset) may leave it mid-reply.
            Err(e) if e.code().is_some() => {
                *cached = Some(conn);
                Err(self.failed(e))
            }
            Err(e) => Err(self.failed(e)),
        }
    }
}
