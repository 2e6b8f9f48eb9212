//! The files the host writes or reads on the author's behalf.
//!
//! The host rewrites a few files in place: the config (to save a created
//! service id, next to a password), the sandbox's ready file (polled by other
//! processes) and bundles (watched by running hosts). A reader must never see
//! half a file, and a file the author made private must stay private. Writing
//! in place breaks the first rule; a plain temp-file-and-rename breaks the
//! second, because the new file gets the process's default mode (a 0600
//! config came back 0644, password and all). So every rewrite goes through
//! [`replace_file`] (or [`replace_with`] for a temp file filled by a stream):
//! the temp file is created 0600 in the same directory, so its content is
//! never exposed and the rename stays on one file system; it is synced, given
//! the replaced file's mode and owner, renamed over it, and the directory is
//! synced so the rename itself survives a crash.
//!
//! Config files are read with [`read_regular`]: a FIFO named as a config
//! section blocks `open` until someone writes to it (the host hung silently),
//! and a device never ends, so anything but a regular file is refused before
//! it is opened.
//!
//! A directory the host creates and writes into on the author's behalf
//! (`.rhai/definitions`) is checked with [`real_dirs_below`] first: a
//! symlink there would send the writes outside the service directory (to
//! wherever it points, with the host's permissions), so one is refused
//! rather than followed.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;
use tempfile::NamedTempFile;

/// Replaces `path` with `bytes`, atomically, keeping its mode and owner; a
/// new file gets `mode_if_new` (unix permission bits).
pub fn replace_file(path: &Path, bytes: &[u8], mode_if_new: u32) -> io::Result<()> {
    let mut tmp = temp_beside(path)?;
    tmp.write_all(bytes)?;
    replace_with(tmp, path, mode_if_new)
}

/// A temp file in `path`'s directory, readable by its owner only.
pub fn temp_beside(path: &Path) -> io::Result<NamedTempFile> {
    // tempfile creates the file 0600 on unix (O_EXCL, owner only).
    tempfile::Builder::new()
        .prefix(".moobius-")
        .suffix(".tmp")
        .tempfile_in(parent_dir(path))
}

/// Makes the filled temp file `tmp` (from [`temp_beside`]) the new `path`:
/// synced, with `path`'s mode and owner (or `mode_if_new`), renamed over it,
/// the directory synced.
pub fn replace_with(tmp: NamedTempFile, path: &Path, mode_if_new: u32) -> io::Result<()> {
    #[cfg(unix)]
    copy_mode_and_owner(tmp.as_file(), path, mode_if_new)?;
    #[cfg(not(unix))]
    let _ = mode_if_new;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(parent_dir(path))
}

/// Refuses a symlink (or anything not a directory) at any step of `rel`
/// below `base`, so that files written there stay inside `base`. Steps that
/// do not exist yet are fine: the caller creates them as real directories.
pub fn real_dirs_below(base: &Path, rel: &Path) -> io::Result<()> {
    let mut path = base.to_path_buf();
    for step in rel.components() {
        path.push(step);
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        if meta.file_type().is_symlink() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} is a symlink; the host writes only inside the service directory",
                    path.display()
                ),
            ));
        }
        if !meta.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} is {}, not a directory",
                    path.display(),
                    kind(meta.file_type())
                ),
            ));
        }
    }
    Ok(())
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Gives `file` the mode and owner of the file at `path` (when there is one).
/// Changing the owner needs privileges the host rarely has: when refused, the
/// new file stays the host's (its group is still kept if the host may).
#[cfg(unix)]
fn copy_mode_and_owner(file: &File, path: &Path, mode_if_new: u32) -> io::Result<()> {
    use std::os::unix::fs::{fchown, MetadataExt, PermissionsExt};
    let old = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return file.set_permissions(std::fs::Permissions::from_mode(mode_if_new));
        }
        Err(e) => return Err(e),
    };
    let mine = file.metadata()?;
    if (old.uid(), old.gid()) != (mine.uid(), mine.gid()) {
        let refused = |r: io::Result<()>| match r {
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => Ok(true),
            other => other.map(|_| false),
        };
        if refused(fchown(file, Some(old.uid()), Some(old.gid())))? {
            refused(fchown(file, None, Some(old.gid())))?;
        }
    }
    // After the owner: chown may clear the set-id bits.
    file.set_permissions(std::fs::Permissions::from_mode(
        old.permissions().mode() & 0o7777,
    ))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Reads `path` as text, refusing anything that is not a regular file (a
/// FIFO, a device, a directory, a socket) before opening it.
pub fn read_regular(path: &Path) -> io::Result<String> {
    check_regular(&std::fs::metadata(path)?)?;
    let mut file = File::open(path)?;
    // The path may have been replaced between the check and the open.
    check_regular(&file.metadata()?)?;
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    Ok(text)
}

fn check_regular(meta: &std::fs::Metadata) -> io::Result<()> {
    if meta.is_file() {
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("not a regular file ({})", kind(meta.file_type())),
    ))
}

/// What a file that is not a regular file is, for messages.
pub fn kind(t: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
    }
    if t.is_dir() {
        "a directory"
    } else if t.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn a_replaced_file_keeps_its_mode_and_gets_the_new_content() {
        let d = tempfile::tempdir().unwrap();
        for keep in [0o600, 0o640, 0o604] {
            let p = d.path().join(format!("f-{keep:o}.json"));
            std::fs::write(&p, "old").unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(keep)).unwrap();
            replace_file(&p, b"new", 0o644).unwrap();
            assert_eq!(std::fs::read_to_string(&p).unwrap(), "new");
            assert_eq!(mode(&p), keep, "{keep:o}");
        }
        let leftovers: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn a_replaced_file_keeps_its_owner() {
        use std::os::unix::fs::MetadataExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("owned.json");
        std::fs::write(&p, "old").unwrap();
        if std::os::unix::fs::chown(&p, Some(4321), Some(4322)).is_err() {
            eprintln!("skipped: changing a file's owner needs root");
            return;
        }
        replace_file(&p, b"new", 0o644).unwrap();
        let m = std::fs::metadata(&p).unwrap();
        assert_eq!((m.uid(), m.gid()), (4321, 4322));
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new");
    }

    #[test]
    fn a_new_file_gets_the_given_mode() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("ready.json");
        replace_file(&p, b"{}", 0o644).unwrap();
        assert_eq!(mode(&p), 0o644);
        let q = d.path().join("private.json");
        replace_file(&q, b"{}", 0o600).unwrap();
        assert_eq!(mode(&q), 0o600);
    }

    #[test]
    fn the_temp_file_is_private_from_the_start() {
        let d = tempfile::tempdir().unwrap();
        let tmp = temp_beside(&d.path().join("x.json")).unwrap();
        assert_eq!(tmp.path().parent(), Some(d.path()));
        assert_eq!(mode(tmp.path()), 0o600);
    }

    #[test]
    fn a_symlinked_step_is_refused_and_missing_steps_are_fine() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let rel = Path::new(".rhai/definitions");
        assert!(
            real_dirs_below(dir.path(), rel).is_ok(),
            "nothing there yet"
        );
        std::fs::create_dir(dir.path().join(".rhai")).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join(rel)).unwrap();
        let e = real_dirs_below(dir.path(), rel).unwrap_err();
        assert!(e.to_string().contains("is a symlink"), "{e}");
    }

    #[test]
    fn only_regular_files_are_read() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("a.json");
        std::fs::write(&f, "{}").unwrap();
        assert_eq!(read_regular(&f).unwrap(), "{}");
        let e = read_regular(d.path()).unwrap_err();
        assert_eq!(e.to_string(), "not a regular file (a directory)");
        let e = read_regular(Path::new("/dev/null")).unwrap_err();
        assert_eq!(e.to_string(), "not a regular file (a device)");
    }
}
