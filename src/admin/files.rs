//! Where a running endpoint says how to reach it, under the service
//! directory, so that `moobius-host spell` (and the operator) can find it.
//!
//! Several processes may serve one directory: the nodes of a cluster
//! started side by side share it. One pair of files would hold only the
//! last one's URL and token, and `spell` would reach none but it. So each
//! process writes its own pair, `data/admin/PORT.url` and
//! `data/admin/PORT.token` (keyed by its admin port, which no two live
//! processes on one machine share), and removes it when it stops; `spell`
//! lists them. `data/admin.url` and `data/admin.token` are still written,
//! for the last process started, for the one-process case and scripts
//! that read them (`curl ... $(cat data/admin.url)/spell`). Tokens are
//! written mode 0600.

use crate::config::Secret;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The last started process's URL and token, under the service directory.
pub const TOKEN_FILE: &str = "data/admin.token";
pub const URL_FILE: &str = "data/admin.url";
/// Each process's own pair: `PORT.url`, `PORT.token`.
pub const ENDPOINTS_DIR: &str = "data/admin";

/// One endpoint as its files describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub url: String,
    /// `None` when the process took its token from the environment.
    pub token: Option<Secret>,
}

/// The files of this process's endpoint; removed (its own pair) when
/// dropped, so that a stopped process is not listed.
#[derive(Debug)]
pub struct Published {
    /// The endpoint's URL (`http://ADDR`).
    pub url: String,
    own: [PathBuf; 2],
}

impl Drop for Published {
    fn drop(&mut self) {
        for path in &self.own {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Writes the endpoint's URL (and its token, when `write_token`: a
/// generated one) under `dir`: this process's own pair and the shared one.
pub fn publish(
    dir: &Path,
    bound: SocketAddr,
    token: &Secret,
    write_token: bool,
) -> std::io::Result<Published> {
    let url = format!("http://{bound}");
    let own_dir = dir.join(ENDPOINTS_DIR);
    std::fs::create_dir_all(&own_dir)?;
    let port = bound.port();
    let published = Published {
        url,
        own: [
            own_dir.join(format!("{port}.url")),
            own_dir.join(format!("{port}.token")),
        ],
    };
    if write_token {
        write_private(&published.own[1], token.expose())?;
        write_private(&dir.join(TOKEN_FILE), token.expose())?;
    }
    let url = published.url.as_bytes();
    crate::fsutil::replace_file(&published.own[0], url, 0o644)?;
    crate::fsutil::replace_file(&dir.join(URL_FILE), url, 0o644)?;
    Ok(published)
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    crate::fsutil::replace_file(path, text.as_bytes(), 0o600)?;
    set_owner_only(path)
}

#[cfg(unix)]
fn set_owner_only(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn set_owner_only(_: &Path) -> std::io::Result<()> {
    Ok(())
}

/// The endpoints published under `dir`, the most recently started first:
/// each process's own pair, or, when there is none (an older host), the
/// shared pair. A process that died without removing its files is still
/// listed; the caller finds it does not answer.
pub fn endpoints(dir: &Path) -> Vec<Endpoint> {
    let mut own: Vec<(std::time::SystemTime, Endpoint)> =
        std::fs::read_dir(dir.join(ENDPOINTS_DIR))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let path = entry.path();
                if path.extension()? != "url" {
                    return None;
                }
                let when = entry.metadata().and_then(|m| m.modified()).ok()?;
                Some((when, read_pair(&path, &path.with_extension("token"))?))
            })
            .collect();
    own.sort_by_key(|e| std::cmp::Reverse(e.0));
    let own: Vec<Endpoint> = own.into_iter().map(|(_, e)| e).collect();
    if !own.is_empty() {
        return own;
    }
    read_pair(&dir.join(URL_FILE), &dir.join(TOKEN_FILE))
        .into_iter()
        .collect()
}

fn read_pair(url: &Path, token: &Path) -> Option<Endpoint> {
    let url = std::fs::read_to_string(url).ok()?.trim().to_string();
    let token = std::fs::read_to_string(token)
        .ok()
        .map(|t| Secret::new(t.trim().to_string()));
    Some(Endpoint { url, token })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(port: u16, token: &str) -> Endpoint {
        Endpoint {
            url: format!("http://127.0.0.1:{port}"),
            token: Some(Secret::new(token)),
        }
    }

    #[test]
    fn each_process_has_its_own_pair_until_it_stops() {
        let dir = tempfile::tempdir().unwrap();
        let bound = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
        let a = publish(dir.path(), bound(4001), &Secret::new("ta"), true).unwrap();
        let b = publish(dir.path(), bound(4002), &Secret::new("tb"), true).unwrap();
        let mut found = endpoints(dir.path());
        found.sort_by(|x, y| x.url.cmp(&y.url));
        assert_eq!(found, [endpoint(4001, "ta"), endpoint(4002, "tb")]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let token = dir.path().join(ENDPOINTS_DIR).join("4001.token");
            let mode = std::fs::metadata(token).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        drop(a);
        drop(b);
        // Only the shared pair (the last started) is left.
        assert_eq!(endpoints(dir.path()), [endpoint(4002, "tb")]);
    }
}
