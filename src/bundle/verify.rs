//! `verify`: everything `run --bundle` would check, without running it.
//!
//! The bundle is unpacked into a throw-away private directory (which
//! validates every entry and hash), then the service is compiled exactly as
//! the host compiles it, but against [`NoHost`], a script API that refuses
//! every call: compiling calls nothing, so this proves no network is needed.

use super::{unpack, BundleError, BundleLimits, KeyId, Manifest, TrustedKeys};
use crate::script::{CompileOptions, Diagnostic, NoHost, ServiceScript};
use std::path::Path;
use std::rc::Rc;

/// Compiles the service rooted at `root`: the entry as a service (with its
/// imports, the top-level rule and all), every other `.rhai` file for syntax
/// (modules and scenario tests are not services on their own).
pub(crate) fn compile_scripts<'a>(
    root: &Path,
    entry: &str,
    scripts: impl IntoIterator<Item = &'a str>,
) -> Result<(), BundleError> {
    let opts = CompileOptions::for_main(&root.join(entry)).with_display_base(root);
    ServiceScript::load(&opts, Rc::new(NoHost))?;
    // The service engine's parse limits, so that a module accepted here is
    // accepted there.
    let engine = crate::script::syntax_engine();
    for rel in scripts {
        if rel == entry || !rel.ends_with(".rhai") {
            continue;
        }
        let text = std::fs::read_to_string(root.join(rel))
            .map_err(|e| Diagnostic::plain(rel, format!("cannot read the script: {e}")))?;
        engine
            .compile(&text)
            .map_err(|e| Diagnostic::from_parse(rel, &e))?;
    }
    Ok(())
}

/// A bundle that passed [`verify`].
#[derive(Debug, Clone)]
pub struct Verified {
    pub manifest: Manifest,
    /// Who signed it (the signature checked, and trusted when `trust` was
    /// not empty); `None`: unsigned.
    pub signer: Option<KeyId>,
}

/// Checks a bundle completely: its signature (against `trust`, see
/// [`unpack`]), every entry and hash, and every script compiles. No network.
pub fn verify(
    file: &Path,
    limits: &BundleLimits,
    trust: &TrustedKeys,
) -> Result<Verified, BundleError> {
    let unpacked = unpack(file, limits, trust)?;
    check_unpacked(unpacked.root(), &unpacked.manifest)?;
    Ok(Verified {
        manifest: unpacked.manifest,
        signer: unpacked.signer,
    })
}

/// Compiles an unpacked bundle's scripts.
pub(crate) fn check_unpacked(root: &Path, manifest: &Manifest) -> Result<(), BundleError> {
    compile_scripts(
        root,
        &manifest.entry,
        manifest.files.iter().map(|f| f.path.as_str()),
    )
}
