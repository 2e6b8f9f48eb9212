//! The admin token: `MOOBIUS_ADMIN_TOKEN` when set, else a fresh random one
//! per start, written (mode 0600) where `files.rs` says so that
//! `moobius-host spell` and the operator can read it. Compared in constant
//! time.

use crate::config::Secret;

pub use super::files::{TOKEN_FILE, URL_FILE};

/// The variable that sets the token instead of a random one.
pub const TOKEN_ENV: &str = "MOOBIUS_ADMIN_TOKEN";

/// The token for this start, and whether it was generated here (and so
/// must be written for `spell` to read).
pub fn token_for_start() -> (Secret, bool) {
    if let Some(t) = std::env::var(TOKEN_ENV)
        .ok()
        .filter(|t| !t.trim().is_empty())
    {
        return (Secret::new(t.trim().to_string()), false);
    }
    let bytes: [u8; 32] = rand::random();
    (Secret::new(hex::encode(bytes)), true)
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
