//! `verify`: everything `run --bundle` would check, without running it.
//!
//! The bundle is unpacked into a throw-away private directory (which
//! validates every entry and hash), then the service is compiled exactly as
//! the host compiles it, but against [`NoHost`], a script API that refuses
//! every call: compiling calls nothing, so this proves no network is needed.

use super::{unpack, BundleError, BundleLimits, Manifest};
use crate::protocol::IdList;
use crate::script::{Character, CompileOptions, Diagnostic, HostApi, ServiceScript};
use std::path::Path;
use std::rc::Rc;

/// A script API with no platform behind it, for compiling only.
pub struct NoHost;

const NO_HOST: &str = "not available while verifying (no platform)";

impl HostApi for NoHost {
    fn member_ids(&self, _: &str) -> Result<Vec<String>, String> {
        Err(NO_HOST.into())
    }
    fn send_characters(&self, _: &str, _: IdList, _: IdList) -> Result<(), String> {
        Err(NO_HOST.into())
    }
    fn create_agent(&self, _: &str, _: &str, _: &str) -> Result<Character, String> {
        Err(NO_HOST.into())
    }
    fn fetch_agents(&self) -> Result<Vec<Character>, String> {
        Err(NO_HOST.into())
    }
    fn fetch_profiles(&self, _: Vec<String>) -> Result<Vec<Character>, String> {
        Err(NO_HOST.into())
    }
}

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
    let mut engine = rhai::Engine::new();
    // The service engine's limits (src/script/service.rs), so that a module
    // accepted here is accepted there.
    engine.set_max_expr_depths(128, 64);
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

/// Checks a bundle completely: every entry and hash (see [`unpack`]) and
/// every script compiles. Returns its manifest. No network.
pub fn verify(file: &Path, limits: &BundleLimits) -> Result<Manifest, BundleError> {
    let unpacked = unpack(file, limits)?;
    check_unpacked(unpacked.root(), &unpacked.manifest)?;
    Ok(unpacked.manifest)
}

/// Compiles an unpacked bundle's scripts.
pub(crate) fn check_unpacked(root: &Path, manifest: &Manifest) -> Result<(), BundleError> {
    compile_scripts(
        root,
        &manifest.entry,
        manifest.files.iter().map(|f| f.path.as_str()),
    )
}
