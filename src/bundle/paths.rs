//! Which names an entry may have. One function decides it for archive
//! entries and manifest paths alike, so the two can never disagree: plain
//! relative paths of normal components, `/`-separated, nothing that could
//! climb out of the unpack directory on any platform.

use super::BundleError;

/// Longest accepted entry name (bytes); far beyond any real service file.
const MAX_PATH: usize = 1024;

/// Checks a raw entry name and returns it as a string (a trailing `/`, as
/// tar gives directories, is removed).
pub(crate) fn check_entry_path(raw: &[u8]) -> Result<String, BundleError> {
    let shown = String::from_utf8_lossy(raw).into_owned();
    let refuse = |reason| {
        Err(BundleError::UnsafePath {
            path: shown.clone(),
            reason,
        })
    };
    let Ok(text) = std::str::from_utf8(raw) else {
        return refuse("the name is not UTF-8");
    };
    if raw.len() > MAX_PATH {
        return refuse("the name is too long");
    }
    let text = text.strip_suffix('/').unwrap_or(text);
    if text.is_empty() {
        return refuse("the name is empty");
    }
    if text.starts_with('/') {
        return refuse("absolute paths are not allowed");
    }
    if text.contains('\\') {
        return refuse("backslashes are not allowed in names");
    }
    if text.chars().any(char::is_control) {
        return refuse("control characters are not allowed in names");
    }
    // `C:foo` is relative on Unix but not on Windows.
    if text.contains(':') {
        return refuse("':' is not allowed in names");
    }
    for part in text.split('/') {
        match part {
            "" => return refuse("empty path components are not allowed"),
            "." => return refuse("'.' components are not allowed"),
            ".." => return refuse("'..' components are not allowed"),
            _ => {}
        }
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::check_entry_path;

    #[test]
    fn accepts_plain_relative_paths() {
        assert_eq!(
            check_entry_path(b"scripts/service.rhai").unwrap(),
            "scripts/service.rhai"
        );
        assert_eq!(check_entry_path(b"resources/").unwrap(), "resources");
        assert!(check_entry_path(b"resources/a..b.png").is_ok());
    }

    #[test]
    fn refuses_escapes() {
        for bad in [
            &b"../x"[..],
            b"a/../../x",
            b"/etc/passwd",
            b"a//b",
            b"./a",
            b"a\\..\\b",
            b"C:evil",
            b"",
            b"a/\n",
            b"\xff\xfe",
        ] {
            assert!(check_entry_path(bad).is_err(), "{bad:?}");
        }
    }
}
