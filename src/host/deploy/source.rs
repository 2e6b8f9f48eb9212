//! Where a deployed version's files come from: a bundle (handed over, or
//! kept under `data/deploys/`), verified and unpacked into a private
//! directory as at start, or the version the host started with.

use super::{files, DeployError, DeployOptions};
use crate::bundle::{self, Unpacked};
use crate::deploy::VersionTag;
use crate::host::{KeepAlive, NewSource};
use std::path::PathBuf;
use std::sync::Arc;

/// What the host started with, for a rollback past the first deploy.
#[derive(Debug, Clone)]
pub enum StartVersion {
    /// The service directory's files: the entry script and the directory.
    Dir { script: PathBuf, dir: PathBuf },
    /// `run --bundle FILE`: unpacked again from FILE.
    Bundle(PathBuf),
}

/// Verifies and unpacks a bundle file off the async threads; the refusal's
/// line otherwise (unsigned, untrusted, damaged...).
pub(super) async fn unpack(path: PathBuf, opts: &DeployOptions) -> Result<Unpacked, String> {
    let (limits, trust) = (opts.limits, opts.trust.clone());
    let shown = path.display().to_string();
    match tokio::task::spawn_blocking(move || bundle::unpack(&path, &limits, &trust)).await {
        Ok(Ok(u)) => Ok(u),
        Ok(Err(e)) => Err(format!("bundle refused: {e}")),
        Err(e) => Err(format!("{shown}: unpacking stopped: {e}")),
    }
}

/// The files of `target` (a rollback's), what keeps them alive, and the
/// bundle's name and signer when it is one.
pub(super) async fn of(
    target: &VersionTag,
    opts: &DeployOptions,
) -> Result<(NewSource, KeepAlive, Option<(String, Option<String>)>), DeployError> {
    let file = match (&opts.start, target.sha256.is_empty()) {
        (StartVersion::Dir { script, dir }, true) => {
            let source = NewSource {
                main: script.clone(),
                base_dir: dir.clone(),
            };
            return Ok((source, Arc::new(()), None));
        }
        (StartVersion::Bundle(file), true) => file.clone(),
        (_, false) => files::bundle_path(&opts.data_dir, &target.sha256),
    };
    if !file.exists() {
        return Err(DeployError::NothingToRollBack(format!(
            "{} ({}) is gone",
            target.describe(),
            file.display()
        )));
    }
    let unpacked = unpack(file, opts)
        .await
        .map_err(DeployError::NothingToRollBack)?;
    let source = NewSource {
        main: unpacked.entry(),
        base_dir: unpacked.root().to_path_buf(),
    };
    let meta = (
        unpacked.manifest.name.clone(),
        unpacked.signer.map(|k| k.to_string()),
    );
    Ok((source, Arc::new(unpacked), Some(meta)))
}
