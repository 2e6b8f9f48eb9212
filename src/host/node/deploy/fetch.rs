//! A deploy's bundle, from Redis to a verified private directory: the
//! bytes stored under their SHA-256 are checked against it, written to a
//! private temporary file and unpacked as `run --bundle` does, with this
//! node's `trusted_keys` (so an unsigned bundle, or another key's, is
//! refused here, and that refusal is this node's veto).

use crate::bundle::{self, BundleLimits, TrustedKeys, Unpacked};
use crate::cluster::deploy::machine::Deploys;
use sha2::{Digest, Sha256};
use std::io::Write;

/// The bundle `sha`, unpacked; why not otherwise (a line for the veto).
pub(super) fn unpack(
    deploys: &Deploys,
    sha: &str,
    trust: &TrustedKeys,
) -> Result<Unpacked, String> {
    let bytes = deploys
        .bundle(sha)
        .map_err(|e| format!("cannot fetch the bundle: {e}"))?
        .ok_or_else(|| format!("the bundle {} is not in Redis", short(sha)))?;
    let got = hex::encode(Sha256::digest(&bytes));
    if got != sha {
        return Err(format!(
            "the bundle stored as {} has SHA-256 {}",
            short(sha),
            short(&got)
        ));
    }
    let mut file = tempfile::Builder::new()
        .prefix(".moobius-deploy-")
        .suffix(".mbx")
        .tempfile()
        .map_err(|e| format!("cannot write the bundle to a temporary file: {e}"))?;
    file.write_all(&bytes)
        .and_then(|()| file.flush())
        .map_err(|e| format!("cannot write the bundle to a temporary file: {e}"))?;
    // The defaults, as for `run --bundle` without limits given.
    bundle::unpack(file.path(), &BundleLimits::default(), trust)
        .map_err(|e| format!("bundle refused: {e}"))
}

/// The first 12 hex digits, as the rest of the project shows a SHA-256.
pub(super) fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}
