//! Every bound of the admin endpoint's connections, in one place, each with
//! its reason. The endpoint answers anyone who can reach its port (the
//! probes need no token), so nothing a client sends before it has shown
//! the token may cost more than a few kilobytes or hold anything for long.

use std::time::Duration;

/// How long a client has to send a request's headers, from the moment the
/// connection is ready for them (also while it sits idle between
/// requests). A probe or `spell` sends its headers at once; a client that
/// trickles them (or sends nothing) would otherwise hold a connection and
/// its descriptor for as long as it likes.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an authorized client has to send a body. A spell's body is a
/// small JSON value sent in one go.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest body read (bytes): a spell is a JSON value for `on_spell`,
/// not an upload; 64 KiB is far above any command and keeps 128 bodies
/// under 8 MiB.
pub const BODY_LIMIT: usize = 64 * 1024;

/// How long an authorized client has to send a bundle to `POST /deploy`
/// (up to the bundle size limit, 64 MiB by default): a minute is a
/// slow link's 64 MiB, and a deploy is an operator's one-off act.
pub const DEPLOY_BODY_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// The largest bundle `POST /deploy` reads (bytes): the bundle size limit
/// (`BundleLimits::max_unpacked_bytes`, what an unpacked bundle may hold;
/// a gzip archive of it is no larger but for a few headers), plus 1 MiB
/// for those.
pub const DEPLOY_BODY_LIMIT: usize = crate::bundle::DEFAULT_MAX_UNPACKED_BYTES as usize + (1 << 20);

/// Connections served at once; more wait in the kernel's accept queue. The
/// endpoint's clients are a supervisor's probes, a Prometheus scraper and
/// an operator's `spell`: a handful. 128 leaves ample room for them and
/// keeps an idle-connection flood to 128 descriptors (well under the usual
/// 1,024 soft limit the host shares with its platform link, Redis and
/// files) and 128 read buffers.
pub const MAX_CONNECTIONS: usize = 128;

/// The read buffer of one connection (bytes), hence the largest request
/// head: a bearer token and a few headers fit many times over (hyper's
/// default, ~400 KiB, times [`MAX_CONNECTIONS`] would be 50 MiB).
pub const READ_BUFFER: usize = 16 * 1024;
