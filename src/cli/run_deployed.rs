//! `run` after a deploy: the host runs the last promoted deployed version
//! (its bundle kept under `data/deploys/`) rather than the directory's
//! files or `--bundle`, and says so in one INFO line, with the way back.
//! See docs/DEPLOY.md, "What a restart runs".

use moobius_host::bundle::{self, BundleLimits, Unpacked};
use moobius_host::config::Config;
use moobius_host::deploy::VersionTag;
use moobius_host::host::deploy::{files, restart_version};
use std::path::Path;

/// `None`: no deploy to run (the usual start). `Some(Ok)`: the deployed
/// version, unpacked, and its tag. `Some(Err(code))`: its bundle is
/// refused now (the trusted keys changed, or it was damaged): the start
/// stops with that line rather than run something else.
pub fn restart_on_deployed(
    dir: &Path,
    cfg: &Config,
    limits: &BundleLimits,
) -> Option<Result<(Unpacked, VersionTag), u8>> {
    let data_dir = dir.join("data");
    let (record, file) = match restart_version(&data_dir) {
        Ok(found) => found?,
        Err(why) => {
            tracing::warn!("{why}; running the directory's files (or --bundle) instead");
            return None;
        }
    };
    let trust = &cfg.service.trusted_keys;
    let unpacked = match bundle::unpack(&file, limits, trust) {
        Ok(u) => u,
        Err(e) => {
            eprintln!(
                "error: the last deploy ({}) is what this host runs, but its bundle {} is refused now: {e}; to start from the directory's files instead, remove {}",
                record.id,
                file.display(),
                files::dir(&data_dir).join("history.json").display()
            );
            return Some(Err(2));
        }
    };
    let back = if record.previous.is_start() {
        "the version the host starts with without deploys (the directory's files, or --bundle)"
            .to_string()
    } else {
        record.previous.describe()
    };
    tracing::info!(
        deploy = %record.id,
        version = %record.version,
        sha256 = %record.sha256,
        "running the last deployed version (kept in data/deploys/) rather than the directory's files or --bundle; file saves do not replace it. `moobius-host deploy --rollback` goes back to {back}"
    );
    Some(Ok((unpacked, record.tag())))
}

/// A cluster node's start: the cluster's current deployed version (its
/// bundle from Redis, verified with this node's trusted keys) rather than
/// the directory's files, so that a node started later, or restarted,
/// runs what every other node runs. `None`: nothing deployed (or Redis
/// not answering: the node's own start reports that).
pub fn cluster_deployed(cfg: &Config) -> Option<Result<(Unpacked, VersionTag), u8>> {
    let d = super::deploy_cluster::open(cfg).ok()?;
    let current = d.current().ok().filter(|c| !c.sha.is_empty())?;
    let bytes = d.bundle(&current.sha).ok().flatten()?;
    let file = tempfile::NamedTempFile::new().ok()?;
    std::fs::write(file.path(), &bytes).ok()?;
    let trust = &cfg.service.trusted_keys;
    let unpacked = match bundle::unpack(file.path(), &BundleLimits::default(), trust) {
        Ok(u) => u,
        Err(e) => {
            eprintln!(
                "error: the cluster's current deploy ({}) is refused here: {e}",
                current.id
            );
            return Some(Err(2));
        }
    };
    let tag = VersionTag {
        deploy_id: current.id.clone(),
        version: unpacked.manifest.version.clone(),
        sha256: current.sha.clone(),
    };
    tracing::info!(deploy = %tag.deploy_id, version = %tag.version, sha256 = %tag.sha256, "running the cluster's current deployed version rather than the directory's files");
    Some(Ok((unpacked, tag)))
}
