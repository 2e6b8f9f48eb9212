//! The admin token: `MOOBIUS_ADMIN_TOKEN` when set, else a fresh random one
//! per start, written to `data/admin.token` (mode 0600) so that `moobius-host
//! spell` and the operator can read it. Compared in constant time.

use crate::config::Secret;
use std::path::{Path, PathBuf};

/// Where the token and the endpoint's URL are written, under the service
/// directory.
pub const TOKEN_FILE: &str = "data/admin.token";
pub const URL_FILE: &str = "data/admin.url";

/// The variable that sets the token instead of a random one.
pub const TOKEN_ENV: &str = "MOOBIUS_ADMIN_TOKEN";

/// The token for this start; writes it to `DIR/data/admin.token` when it
/// was generated.
pub fn token_for(dir: &Path) -> std::io::Result<Secret> {
    if let Some(t) = std::env::var(TOKEN_ENV)
        .ok()
        .filter(|t| !t.trim().is_empty())
    {
        return Ok(Secret::new(t.trim().to_string()));
    }
    let bytes: [u8; 32] = rand::random();
    let token = hex::encode(bytes);
    let path = token_path(dir);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    crate::fsutil::replace_file(&path, token.as_bytes(), 0o600)?;
    set_owner_only(&path)?;
    Ok(Secret::new(token))
}

pub fn token_path(dir: &Path) -> PathBuf {
    dir.join(TOKEN_FILE)
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

/// `Authorization: Bearer TOKEN` holds `token` (constant time).
pub fn authorized(header: Option<&str>, token: &Secret) -> bool {
    let Some(given) = header.and_then(|h| h.strip_prefix("Bearer ")) else {
        return false;
    };
    let (a, b) = (given.trim().as_bytes(), token.expose().as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_bearer_token_is_accepted() {
        let t = Secret::new("abc123");
        assert!(authorized(Some("Bearer abc123"), &t));
        assert!(!authorized(Some("Bearer abc124"), &t));
        assert!(!authorized(Some("Bearer abc12"), &t));
        assert!(!authorized(Some("abc123"), &t));
        assert!(!authorized(None, &t));
    }
}
