//! A deploy's steps, on one script thread: two versions side by side.
//!
//! Unlike a hot reload (`apply.rs`), which swaps in one step on every
//! thread, a deploy is two-phase and may move only some threads (a
//! canary). So each thread holds, besides the running version:
//!
//! - the **prepared** version: compiled off the threads, its engine built
//!   here, its `on_reload` already run once on a copy of `this` with every
//!   effect dropped (`dry_run.rs`); a failure there is this thread's veto;
//! - the **previous** version, once the prepared one was committed: the
//!   one it replaced, kept (without its `this`, which the new one adopted)
//!   so that a revert is one swap back, until the deploy finishes.
//!
//! Commit and revert swap between two events, in a round where every
//! thread asked votes and all swap or none (`round.rs`), so no event is
//! handled by the version being left after another thread handled one with
//! the version being entered. Each swap adopts `this` and then runs the
//! entered version's `on_reload` for real (a failure there is logged and
//! counted as a handler error: the swap stands, the canary sees it).

use crate::deploy::VersionTag;
use crate::host::bridge::HostBridge;
use crate::host::events::{DeployAction, DeployStep, KeepAlive, Precompiled};
use crate::host::reload::dry_run::DryRunHost;
use crate::host::reload::round::{Decision, ReloadRound, Vote};
use crate::host::threads::shared::{Place, Shared};
use crate::script::{CompileOptions, ServiceScript};
use crate::timeouts::RELOAD_VOTE;
use std::path::PathBuf;
use std::rc::Rc;

/// A version a thread holds besides the running one.
struct Held {
    script: ServiceScript,
    opts: CompileOptions,
    tag: VersionTag,
    /// Where its relative resource paths resolve (the uploader's base).
    base_dir: PathBuf,
    keep: Option<KeepAlive>,
}

/// One thread's versions besides the running script (which the thread's
/// loop owns).
pub(in crate::host) struct Versions {
    tag: VersionTag,
    base_dir: PathBuf,
    keep: Option<KeepAlive>,
    prepared: Option<Held>,
    previous: Option<Held>,
}

impl Versions {
    /// The version the thread started with, its resources under `base_dir`.
    pub fn started(base_dir: PathBuf) -> Self {
        Versions {
            tag: VersionTag::started(),
            base_dir,
            keep: None,
            prepared: None,
            previous: None,
        }
    }
}

/// What a step needs of the thread.
pub(in crate::host) struct ThreadParts<'a> {
    pub script: &'a mut ServiceScript,
    pub opts: &'a mut CompileOptions,
    pub bridge: &'a Rc<HostBridge>,
    pub shared: &'a Shared,
    pub place: Place,
    pub stopping: bool,
}

/// Runs one deploy step on this thread and answers it.
pub(in crate::host) fn step(versions: &mut Versions, t: ThreadParts<'_>, step: DeployStep) {
    let answer = match step.action {
        DeployAction::Prepare {
            compiled,
            source,
            tag,
            keep,
        } => {
            versions.prepared = None;
            let opts = t.opts.relocated(&source.main, &source.base_dir);
            prepare(t.script, t.bridge, compiled, &opts).map(|script| {
                versions.prepared = Some(Held {
                    script,
                    opts,
                    tag,
                    base_dir: source.base_dir,
                    keep,
                });
            })
        }
        DeployAction::Commit(round) => swap(versions, t, &round, Direction::Forward),
        DeployAction::Revert(round) => swap(versions, t, &round, Direction::Back),
        DeployAction::Finish => {
            versions.previous = None;
            Ok(())
        }
        DeployAction::Discard => {
            versions.prepared = None;
            Ok(())
        }
    };
    let _ = step.reply.send(answer);
}

/// This thread's engine around its copy, and the dry run of `on_reload`.
fn prepare(
    running: &ServiceScript,
    bridge: &Rc<HostBridge>,
    compiled: Precompiled,
    opts: &CompileOptions,
) -> Result<ServiceScript, String> {
    let shipped = match compiled {
        Precompiled::Ready(shipped) => shipped,
        Precompiled::EntryEmpty => return Err("the entry script is empty".into()),
        Precompiled::Failed(framed) => return Err(framed),
    };
    let fresh = ServiceScript::from_compiled(shipped, opts, bridge.clone());
    let dry_host = Rc::new(DryRunHost::new(bridge.clone()));
    let mut dry = fresh.rehosted(opts, dry_host, running.this().clone());
    match dry.call("on_reload", vec![]) {
        Ok(_) => Ok(fresh),
        Err(e) => Err(format!(
            "on_reload failed on a copy of `this` (dry run, nothing was changed): {}",
            opts.framed(&e.diagnostic)
        )),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Forward,
    Back,
}

/// Commit (forward: the prepared version in, the running one kept as
/// previous) or revert (back: the previous version in, the running one
/// dropped), in `round`.
fn swap(
    versions: &mut Versions,
    t: ThreadParts<'_>,
    round: &ReloadRound,
    direction: Direction,
) -> Result<(), String> {
    let held = match direction {
        Direction::Forward => &versions.prepared,
        Direction::Back => &versions.previous,
    };
    let vote = match (held, t.stopping) {
        (_, true) => Vote::Failed("the host is stopping".into()),
        (None, _) => Vote::Failed(format!(
            "script thread {} has no {} version",
            t.place.index,
            if direction == Direction::Forward {
                "prepared"
            } else {
                "previous"
            }
        )),
        // Every thread of the round swaps to the same version.
        (Some(h), _) => Vote::Ready {
            hash: tag_hash(&h.tag),
        },
    };
    if let Decision::Keep { error, .. } = round.vote(vote, RELOAD_VOTE) {
        return Err(error.unwrap_or_else(|| "the threads did not agree on the version".into()));
    }
    let taken = match direction {
        Direction::Forward => versions.prepared.take(),
        Direction::Back => versions.previous.take(),
    };
    let Some(mut next) = taken else {
        return Err("the version went away during the round".into());
    };
    next.script.adopt_state(t.script);
    let left = Held {
        script: std::mem::replace(t.script, next.script),
        opts: std::mem::replace(t.opts, next.opts),
        tag: std::mem::replace(&mut versions.tag, next.tag),
        base_dir: std::mem::replace(&mut versions.base_dir, next.base_dir),
        keep: std::mem::replace(&mut versions.keep, next.keep),
    };
    if direction == Direction::Forward {
        versions.previous = Some(left);
    }
    let everywhere = t.shared.versions.set_tag(t.place.index, &versions.tag);
    if everywhere {
        // The last thread to swap: relative resource paths follow.
        t.bridge.uploader.set_base_dir(versions.base_dir.clone());
    }
    t.shared.status.send_modify(|s| {
        s.thread_versions = t.shared.versions.tags();
    });
    if let Err(e) = t.script.call("on_reload", vec![]) {
        tracing::error!(handler = "on_reload", thread = t.place.index, "{e}");
    }
    Ok(())
}

/// A round's ballot for a version: its tag, hashed.
fn tag_hash(tag: &VersionTag) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in [&tag.deploy_id, &tag.version, &tag.sha256] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.finalize().into()
}
