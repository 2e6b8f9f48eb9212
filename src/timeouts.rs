//! Every timeout and grace of the host, named, with its reason.
//!
//! A figure that bounds a wait decides how the host behaves when something
//! is slow or gone (a platform that does not answer, a Redis out of memory,
//! a handler in a loop), so each one here says why it is what it is, and
//! two waits for the same thing share one name. What the config sets
//! (request timeouts, the heartbeat, the lease, the script limits) has its
//! default in `config::ranges` instead, and how long a retry waits is in
//! [`crate::retry`]. The admin endpoint's bounds against hostile clients
//! stay in `admin::bounds`, next to the sizes they go with.

use std::time::Duration;

// --- The platform ------------------------------------------------------

/// One attempt at opening the platform's WebSocket: the SDK cuts each
/// attempt after 16 s too (`docs/PROTOCOL.md`), so a slow platform sees the
/// same patience from both.
pub const PLATFORM_CONNECT: Duration = Duration::from_secs(16);

/// One HTTP request to the platform: far above a healthy answer (tens of
/// ms), short enough that a platform that never answers frees the caller.
pub const PLATFORM_REQUEST: Duration = Duration::from_secs(30);

/// How long a host function (a handler's platform call) may wait at most,
/// whatever the handler's budget: a request's own bound.
pub const HOST_CALL: Duration = PLATFORM_REQUEST;

// --- Redis (the stores and the cluster) --------------------------------

/// One Redis call: Redis answers in under a millisecond when well, so 5 s
/// means it is gone, and the caller fails rather than hangs.
pub const REDIS_CALL: Duration = Duration::from_secs(5);

/// The roles thread's look at the node set's epoch between ticks: it has
/// a connection of its own, and a slow look is skipped until the next tick
/// rather than push the lease renewals back.
pub const ROLES_LOOK: Duration = Duration::from_millis(50);

/// How long a cluster node waits for the gateway's answer to a relayed
/// platform call: the gateway's own request bound.
pub const RELAYED_ANSWER: Duration = PLATFORM_REQUEST;

/// How long a frame in `down` may wait for the platform's acknowledgement
/// before it is acknowledged anyway (a platform that does not acknowledge
/// frames would otherwise keep every frame pending for ever).
pub const DOWN_ACK_PATIENCE: Duration = Duration::from_secs(30);

// --- Reloads ------------------------------------------------------------

/// How long a script thread waits for the others' votes. A thread still
/// busy with a handler delays the round by that handler's run time
/// (bounded by the script limits); past this the round keeps the old
/// version.
pub const RELOAD_VOTE: Duration = Duration::from_secs(60);

/// How long a deploy's step waits for its script threads' answers: a
/// round's vote, and a little more, so that a round that timed out is
/// answered by its threads (with why) before the step gives up on them.
pub const DEPLOY_STEP: Duration = RELOAD_VOTE.saturating_add(Duration::from_secs(5));

// --- Stopping -----------------------------------------------------------

/// How long the script threads get to finish the handler they run when the
/// host stops (or a start fails): a handler is bounded by its own limits,
/// and a stopping host should not wait for a long one.
pub const SCRIPT_STOP_GRACE: Duration = Duration::from_millis(500);

/// How long a stopping host waits for what its handlers sent to be written
/// and acknowledged; idle, this takes milliseconds.
pub const FLUSH_BOUND: Duration = Duration::from_secs(2);

/// How long a stopping gateway waits for each of its link's task and its
/// reader of `down`: what they have not sent stays pending in `down` for
/// the next gateway, so this only bounds the stop, as [`FLUSH_BOUND`].
pub const GATEWAY_STOP_GRACE: Duration = FLUSH_BOUND;

/// How long a command that stops a host it started (on an error, a second
/// signal, the end of `dev`) waits for it: the user asked to leave.
pub const HOST_STOP_GRACE: Duration = Duration::from_secs(1);

/// How long `moobius-host run` waits for the host on SIGTERM: its flush,
/// and a second for the rest of the stop.
pub const HOST_TERM_GRACE: Duration = FLUSH_BOUND.saturating_add(Duration::from_secs(1));

/// How long the commands that run a sandbox wait for it to stop.
pub const SANDBOX_STOP_GRACE: Duration = Duration::from_secs(1);

/// How long the tokio runtime waits for its blocking tasks when the
/// process exits: every one of them was told to stop already.
pub const RUNTIME_STOP: Duration = Duration::from_millis(200);

// --- The admin endpoint ---------------------------------------------------

/// How long the script thread may take to answer `/healthz` (it answers
/// between two events, so a handler longer than this reads as unhealthy).
pub const HEALTH_BOUND: Duration = Duration::from_secs(2);

/// How long a spell may take (waiting for its turn included); a caller may
/// ask for less with `?wait_ms=N`; `dev`'s console gives each spell this.
pub const SPELL_BOUND: Duration = Duration::from_secs(30);

// --- `dev` and the scenario runner ----------------------------------------

/// `dev`: how long to wait for the sandbox to have read the started host's
/// login before the members join, and for a member's first view before
/// letting the next one join, so the members' first views arrive in order.
pub const DEV_JOIN_SETTLE: Duration = Duration::from_secs(5);

/// A scenario's host start (compiling every script, signing in to the
/// sandbox, the first check-ins): generous, as CI machines are slow.
pub const SCENARIO_START: Duration = Duration::from_secs(20);

/// How long a scenario step may wait for the service to settle.
pub const SCENARIO_SETTLE: Duration = Duration::from_secs(10);

/// How long a scenario waits for its host at the end.
pub const SCENARIO_STOP_GRACE: Duration = HOST_STOP_GRACE;

/// A scenario's restart stops the host as SIGTERM does, which flushes
/// within [`FLUSH_BOUND`]; the rest is headroom.
pub const SCENARIO_RESTART_GRACE: Duration = Duration::from_secs(5);
