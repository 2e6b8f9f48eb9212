//! The Python side: finding a Python with moobius 1.8.0, and making its
//! certifi bundle trust the sandbox's CA for the run (the SDK only connects
//! to `wss://` endpoints certifi trusts). The pristine bundle is kept as
//! `cacert.pem.orig`, as the test suite does, and restored at the end.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

fn has_sdk(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import moobius"])
        .output()
        .is_ok_and(|o| o.status.success())
}

pub fn find(explicit: Option<PathBuf>, repo: &Path) -> Option<PathBuf> {
    let candidates = [
        explicit,
        std::env::var_os("MOOBIUS_TEST_PYTHON").map(PathBuf::from),
        Some(repo.join("target/py-venv-moobius-1.8.0/bin/python")),
    ];
    candidates.into_iter().flatten().find(|p| has_sdk(p))
}

pub struct TrustedCa {
    bundle: PathBuf,
    pristine: Vec<u8>,
}

impl TrustedCa {
    pub fn install(python: &Path, ca_pem: &Path) -> Result<TrustedCa> {
        let out = Command::new(python)
            .args(["-c", "import certifi; print(certifi.where())"])
            .output()?;
        if !out.status.success() {
            bail!("cannot locate certifi");
        }
        let bundle = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        let orig = bundle.with_extension("pem.orig");
        if !orig.exists() {
            std::fs::copy(&bundle, &orig).context("saving the pristine certifi bundle")?;
        }
        let pristine = std::fs::read(&orig)?;
        let mut trusted = pristine.clone();
        trusted.extend_from_slice(b"\n");
        trusted.extend_from_slice(&std::fs::read(ca_pem)?);
        std::fs::write(&bundle, trusted)?;
        Ok(TrustedCa { bundle, pristine })
    }
}

impl Drop for TrustedCa {
    fn drop(&mut self) {
        let _ = std::fs::write(&self.bundle, &self.pristine);
    }
}
