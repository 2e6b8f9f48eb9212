//! What the documentation tests share: the repository's root, reading a
//! file, a path as the docs write it, and a walk of a directory.

use std::path::{Path, PathBuf};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn read(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    String::from_utf8_lossy(&bytes).into_owned()
}

/// `path` relative to the repository root, with `/` separators.
pub fn relative(path: &Path) -> String {
    let rel = path.strip_prefix(root()).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// Every file under `dir`, recursively, and (when `dirs` is given) every
/// directory below it.
pub fn walk(dir: &Path, files: &mut Vec<PathBuf>, mut dirs: Option<&mut Vec<PathBuf>>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("readable directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            if let Some(d) = dirs.as_deref_mut() {
                d.push(path.clone());
            }
            walk(&path, files, dirs.as_deref_mut());
        } else {
            files.push(path);
        }
    }
}
