//! What goes into a bundle, and what must never.
//!
//! In: `scripts/**.rhai`, `resources/**`, `tests/scenarios/**.rhai`, and
//! `config/` as a *template*: `config.json` and the section files it names,
//! with `account_config`, every credential-looking key and the user-info of
//! every URL removed (see `scrub`), and a list of what was removed. Out:
//! dotfiles (editor swap files), anything else in the directory, and any
//! section that is (or points at) an account file. A symbolic link is an
//! error rather than a silent follow: it could pull in a file from anywhere.

use super::paths::check_entry_path;
use super::scrub::{scrub, Stripped};
use super::BundleError;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

pub(crate) enum Source {
    Disk(PathBuf),
    /// Generated content (a scrubbed config template).
    Bytes(Vec<u8>),
}

pub(crate) struct Collected {
    pub path: String,
    pub source: Source,
    /// Seconds since the epoch, for the reproducible creation time.
    pub mtime: Option<u64>,
}

/// What to pack, and what was kept out of the config template.
pub(crate) struct Collection {
    /// Every file to pack, sorted by path.
    pub files: Vec<Collected>,
    /// Per config file, the credentials removed (sorted by file).
    pub stripped: Vec<Stripped>,
}

/// Every file to pack, sorted by path.
pub(crate) fn collect(dir: &Path) -> Result<Collection, BundleError> {
    let mut out = Vec::new();
    walk(dir, "scripts", &|p| p.ends_with(".rhai"), &mut out)?;
    walk(dir, "resources", &|_| true, &mut out)?;
    walk(dir, "tests/scenarios", &|p| p.ends_with(".rhai"), &mut out)?;
    let mut stripped = config_template(dir, &mut out)?;
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out.dedup_by(|a, b| a.path == b.path);
    stripped.sort_by(|a, b| a.file.cmp(&b.file));
    stripped.dedup_by(|a, b| a.file == b.file);
    Ok(Collection {
        files: out,
        stripped,
    })
}

fn mtime_of(meta: &std::fs::Metadata) -> Option<u64> {
    meta.modified()
        .ok()?
        .duration_since(UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

fn walk(
    dir: &Path,
    rel: &str,
    keep: &dyn Fn(&str) -> bool,
    out: &mut Vec<Collected>,
) -> Result<(), BundleError> {
    let full = dir.join(rel);
    let read = match std::fs::read_dir(&full) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(BundleError::io(&full, e)),
    };
    for item in read {
        let item = item.map_err(|e| BundleError::io(&full, e))?;
        let name = item.file_name();
        let Some(name) = name.to_str() else {
            return Err(BundleError::Pack(format!(
                "{}: file names must be UTF-8",
                item.path().display()
            )));
        };
        if name.starts_with('.') {
            continue;
        }
        let child = format!("{rel}/{name}");
        check_entry_path(child.as_bytes()).map_err(|e| BundleError::Pack(e.to_string()))?;
        let meta =
            std::fs::symlink_metadata(item.path()).map_err(|e| BundleError::io(item.path(), e))?;
        if meta.file_type().is_symlink() {
            return Err(BundleError::Pack(format!(
                "{child} is a symbolic link; copy the file itself into the service directory"
            )));
        }
        if meta.is_dir() {
            walk(dir, &child, keep, out)?;
        } else if meta.is_file() && keep(&child) {
            out.push(Collected {
                path: child,
                source: Source::Disk(item.path()),
                mtime: mtime_of(&meta),
            });
        }
    }
    Ok(())
}

fn json_file(path: &Path) -> Result<(Value, Option<u64>), BundleError> {
    let text = std::fs::read_to_string(path).map_err(|e| BundleError::io(path, e))?;
    let value = serde_json::from_str(&text)
        .map_err(|e| BundleError::Pack(format!("{}: {e}", path.display())))?;
    let mtime = std::fs::metadata(path).ok().as_ref().and_then(mtime_of);
    Ok((value, mtime))
}

/// The scrubbed template of one config file, as it goes into the bundle at
/// `path`; what was removed is added to `stripped` (after `removed`, the
/// keys the caller already took out).
fn template(
    path: &str,
    mut v: Value,
    mtime: Option<u64>,
    mut removed: Vec<String>,
    stripped: &mut Vec<Stripped>,
) -> Collected {
    scrub(&mut v, "", &mut removed);
    if !removed.is_empty() {
        stripped.push(Stripped {
            file: path.to_string(),
            keys: removed,
        });
    }
    let mut text = serde_json::to_string_pretty(&v).unwrap_or_default();
    text.push('\n');
    Collected {
        path: path.to_string(),
        source: Source::Bytes(text.into_bytes()),
        mtime,
    }
}

/// `config/config.json` and the section files it names (inside `dir`), as
/// templates, and what was removed from each. The deployment's own config
/// is what `run` reads.
fn config_template(dir: &Path, out: &mut Vec<Collected>) -> Result<Vec<Stripped>, BundleError> {
    let mut stripped = Vec::new();
    let main = dir.join("config").join("config.json");
    if std::fs::symlink_metadata(&main).is_err() {
        return Ok(stripped);
    }
    let (mut root, mtime) = json_file(&main)?;
    let Value::Object(sections) = &mut root else {
        return Err(BundleError::Pack(format!(
            "{}: not a JSON object",
            main.display()
        )));
    };
    let mut removed = Vec::new();
    if sections.remove("account_config").is_some() {
        removed.push("account_config".to_string());
    }
    let base = dir.canonicalize().map_err(|e| BundleError::io(dir, e))?;
    let mut keep = Map::new();
    for (key, value) in std::mem::take(sections) {
        let Value::String(reference) = &value else {
            keep.insert(key, value);
            continue;
        };
        // A section given as a path: take the file along if it is safe to.
        let Some(rel) = section_file(&base, reference) else {
            removed.push(format!("{key} (its file is not packed)"));
            continue;
        };
        let (section, section_mtime) = json_file(&base.join(&rel))?;
        out.push(template(
            &rel,
            section,
            section_mtime,
            Vec::new(),
            &mut stripped,
        ));
        keep.insert(key, Value::String(rel));
    }
    *sections = keep;
    out.push(template(
        "config/config.json",
        root,
        mtime,
        removed,
        &mut stripped,
    ));
    Ok(stripped)
}

/// The bundle path of a section file: a `.json` regular file under
/// `base/config/`, not an account file; `None` to leave the section out.
fn section_file(base: &Path, reference: &str) -> Option<String> {
    let reference = reference.trim();
    if !reference.ends_with(".json") || reference.to_ascii_lowercase().contains("account") {
        return None;
    }
    let full = base.join(reference);
    if std::fs::symlink_metadata(&full)
        .ok()?
        .file_type()
        .is_symlink()
    {
        return None;
    }
    let real = full.canonicalize().ok()?;
    let rel = real.strip_prefix(base.join("config")).ok()?;
    if !real.is_file() {
        return None;
    }
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    let rel = format!("config/{}", parts?.join("/"));
    check_entry_path(rel.as_bytes()).ok().map(|_| rel)
}

/// The bundle's name and version.
pub(crate) struct Meta {
    pub name: String,
    pub version: String,
}

#[derive(serde::Deserialize, Default)]
struct MetaFile {
    name: Option<String>,
    version: Option<String>,
}

/// What the command line sets over `bundle.toml` and `manifest.json`
/// (`bundle pack --name N --version V`).
#[derive(Debug, Default, Clone, Copy)]
pub struct MetaOverrides<'a> {
    pub name: Option<&'a str>,
    pub version: Option<&'a str>,
}

/// The version: `--version`, else `bundle.toml`, else a `manifest.json` in
/// `dir`, else `0.0.0`; the name: `--name`, else those files, else the
/// directory's name.
pub(crate) fn metadata(dir: &Path, given: MetaOverrides<'_>) -> Result<Meta, BundleError> {
    let toml_path = dir.join("bundle.toml");
    let from_toml: MetaFile = match std::fs::read_to_string(&toml_path) {
        Ok(text) => toml::from_str(&text)
            .map_err(|e| BundleError::Pack(format!("{}: {e}", toml_path.display())))?,
        Err(_) => MetaFile::default(),
    };
    let from_manifest: MetaFile = std::fs::read(dir.join(super::MANIFEST))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let dir_name = dir
        .canonicalize()
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()));
    let name = given
        .name
        .map(str::to_string)
        .or(from_toml.name)
        .or(from_manifest.name)
        .or(dir_name)
        .unwrap_or_else(|| "service".into());
    let version = given
        .version
        .map(str::to_string)
        .or(from_toml.version)
        .or(from_manifest.version)
        .unwrap_or_else(|| "0.0.0".into());
    let usable =
        |s: &str| !s.trim().is_empty() && s.len() <= 128 && !s.chars().any(char::is_control);
    if !usable(&name) {
        return Err(BundleError::Pack(format!("name {name:?} is not usable")));
    }
    if !usable(&version) || version.contains(char::is_whitespace) {
        return Err(BundleError::Pack(format!(
            "version {version:?} is not usable"
        )));
    }
    Ok(Meta { name, version })
}
